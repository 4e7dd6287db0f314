import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dockerignoreModule from '@balena/dockerignore';
import { check } from './docker.ts';

// A CommonJS package whose typings say `export default`: under Node's ESM the factory is also `.default`.
const dockerignore = (
  dockerignoreModule as unknown as { default: (o?: object) => { add(p: string[]): { ignores(p: string): boolean } } }
).default;
/** The repository root: the context of every image. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** One path of the context, as `lstat` saw it. */
interface Entry {
  readonly path: string;
  readonly dir: boolean;
  readonly link: boolean;
  /** Bytes (for a symbolic link, its target's length). */
  readonly size: number;
  readonly mode: number;
}

/** A path inside an installed package tree (the root's `node_modules` or a workspace's). */
const isDependency = (path: string): boolean => /(^|\/)node_modules(\/|$)/.test(path);

/** The Dockerfile of the dependencies' image, added to its context: the installed trees land under /app. */
const DEPENDENCIES_DOCKERFILE = 'ARG BASE\nFROM ${BASE}\nCOPY app/ /app/\n';

/**
 * The build context of the repository root, as Docker would send it (`.dockerignore` applied with Docker's
 * own rules), read once for every image and split in two:
 *
 * - **the dependencies** (every `node_modules` tree, ~280 MB in ~35,000 files): one image of their own,
 *   FROM the Node base, which the service and agent images are built FROM;
 * - **the workspace** (everything else, ~4 MB in ~600 files): the one `COPY . .` of each Dockerfile.
 *
 * Why: with Docker's vfs driver every layer is a full copy, and a code change used to rebuild a 280 MB
 * layer per image (about 4 minutes for the four images on 2 cores). Now it sends 4 MB, and the dependencies'
 * image is rebuilt only when what is installed changes.
 *
 * Both fingerprints leave modification times out, so a fresh clone of the same commit (CI) finds the images
 * an earlier clone built. The workspace's is a hash of every file's content. The dependencies' is npm's
 * record of what it installed (`package-lock.json`, `node_modules/.package-lock.json`) plus every installed
 * file's path, size and mode, without reading 280 MB: an edit inside `node_modules` that keeps every size is
 * not seen (`docker rmi nova/workspace-deps` after one).
 */
export class BuildContext {
  private readonly tars = new Map<'dependencies' | 'workspace', Promise<string>>();
  private constructor(
    private readonly root: string,
    private readonly entries: readonly Entry[],
    private readonly dir: string,
  ) {}

  /** Reads the context of `root` (default: the repository's), with its `.dockerignore`. */
  static async scan(root = ROOT): Promise<BuildContext> {
    const ignore = dockerignore({}).add((await readFile(join(root, '.dockerignore'), 'utf8')).split('\n'));
    const entries: Entry[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
        const path = rel ? `${rel}/${entry.name}` : entry.name;
        if (ignore.ignores(path)) continue;
        const st = await lstat(join(root, path));
        entries.push({ path, dir: st.isDirectory(), link: st.isSymbolicLink(), size: st.size, mode: st.mode });
        if (st.isDirectory()) await walk(path);
      }
    };
    await walk('');
    // In path order: a directory lists its entries in the order they were made, and npm installs in parallel,
    // so two installs of the same packages list them differently.
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return new BuildContext(root, entries, await mkdtemp(join(tmpdir(), 'nova-context-')));
  }

  /** The dependencies' fingerprint on the image `baseId`: equal fingerprints, equal images. */
  async dependenciesFingerprint(baseId: string): Promise<string> {
    const hash = createHash('sha256');
    hash.update(`${baseId}\n`);
    for (const lock of ['package-lock.json', 'node_modules/.package-lock.json'])
      hash.update(await readFile(join(this.root, lock)).catch(() => `no ${lock}`));
    // Files and links only: the test runners leave empty `node_modules` directories behind in workspaces.
    for (const e of this.entries) if (!e.dir && isDependency(e.path)) hash.update(`${e.path}\0${e.size}\0${e.mode}\n`);
    return digest(hash);
  }

  /** The fingerprint of an image built from `dockerfile` (a path in the context) on the image `baseId` with the workspace's files. */
  async fingerprint(dockerfile: string, baseId: string): Promise<string> {
    const hash = createHash('sha256');
    hash.update(await readFile(join(this.root, dockerfile)));
    hash.update(`\0${baseId}\n`);
    for (const e of this.entries) {
      if (e.dir || isDependency(e.path)) continue;
      const path = join(this.root, e.path);
      const content = e.link ? await readlink(path) : await readFile(path);
      hash.update(`${e.path}\0${e.mode}\0`);
      hash.update(createHash('sha256').update(content).digest());
    }
    return digest(hash);
  }

  /** The dependencies' context (made on first use): their trees under `app/`, and the Dockerfile that copies them. */
  dependenciesTar(): Promise<string> {
    return this.tar('dependencies', async (file, list) => {
      // Member names get the `app/` prefix; symbolic links keep their (relative) targets.
      await check('tar', ['-C', this.root, '--no-recursion', '--transform', 's,^,app/,S', '-cf', file, '-T', list]);
      await writeFile(join(this.dir, 'Dockerfile'), DEPENDENCIES_DOCKERFILE);
      await check('tar', ['-C', this.dir, '-rf', file, 'Dockerfile']);
    });
  }

  /** The workspace's context (made on first use): everything but the dependencies. */
  workspaceTar(): Promise<string> {
    return this.tar('workspace', (file, list) =>
      check('tar', ['-C', this.root, '--no-recursion', '-cf', file, '-T', list]).then(() => undefined),
    );
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private tar(
    part: 'dependencies' | 'workspace',
    make: (file: string, list: string) => Promise<void>,
  ): Promise<string> {
    let made = this.tars.get(part);
    if (made === undefined) {
      made = (async () => {
        const list = join(this.dir, `${part}.list`);
        const paths = this.entries.filter((e) => isDependency(e.path) === (part === 'dependencies')).map((e) => e.path);
        await writeFile(list, paths.join('\n'));
        const file = join(this.dir, `${part}.tar`);
        await make(file, list);
        return file;
      })();
      this.tars.set(part, made);
    }
    return made;
  }
}

const digest = (hash: ReturnType<typeof createHash>): string => hash.digest('hex').slice(0, 32);
