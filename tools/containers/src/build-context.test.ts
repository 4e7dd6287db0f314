import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildContext } from './build-context.ts';
import { check } from './docker.ts';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A small repository: sources, a root and a workspace `node_modules`, a link, and an ignored directory. */
function repository(): { root: string; write: (path: string, content: string) => void } {
  const root = mkdtempSync(join(tmpdir(), 'nova-context-test-'));
  roots.push(root);
  const write = (path: string, content: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  write('.dockerignore', 'ignored\n');
  write('Dockerfile', 'FROM base\nCOPY . .\n');
  write('package-lock.json', '{"lockfileVersion":3}');
  write('src/main.ts', 'console.log(1);\n');
  write('tools/x/index.ts', 'export {};\n');
  write('node_modules/a/index.js', 'module.exports = 1;\n');
  write('tools/x/node_modules/b/b.js', 'module.exports = 2;\n');
  write('ignored/big.bin', 'x'.repeat(1000));
  mkdirSync(join(root, 'node_modules/.bin'));
  symlinkSync('../a/index.js', join(root, 'node_modules/.bin/a'));
  return { root, write };
}

async function fingerprints(root: string, baseId = 'sha256:base'): Promise<{ deps: string; workspace: string }> {
  const context = await BuildContext.scan(root);
  try {
    return {
      deps: await context.dependenciesFingerprint(baseId),
      workspace: await context.fingerprint('Dockerfile', baseId),
    };
  } finally {
    await context.dispose();
  }
}

async function members(tar: string): Promise<string[]> {
  return (await check('tar', ['-tvf', tar]))
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(/\s+/).slice(5).join(' '));
}

describe('BuildContext', () => {
  it('splits the context: the installed trees under app/ with their Dockerfile, the workspace without them', async () => {
    const { root } = repository();
    const context = await BuildContext.scan(root);
    try {
      const deps = await members(await context.dependenciesTar());
      expect(deps).toEqual(
        expect.arrayContaining([
          'app/node_modules/a/index.js',
          'app/node_modules/.bin/a -> ../a/index.js',
          'app/tools/x/node_modules/b/b.js',
          'Dockerfile',
        ]),
      );
      expect(deps.filter((m) => !m.startsWith('app/') && m !== 'Dockerfile')).toEqual([]);
      expect(deps.some((m) => m.includes('src/main.ts'))).toBe(false);
      const workspace = await members(await context.workspaceTar());
      expect(workspace).toEqual(expect.arrayContaining(['src/main.ts', 'tools/x/index.ts', 'Dockerfile']));
      expect(workspace.filter((m) => m.includes('node_modules') || m.startsWith('ignored'))).toEqual([]);
    } finally {
      await context.dispose();
    }
  });

  it('fingerprints content, not times: a fresh clone of the same files finds the same images', async () => {
    const { root, write } = repository();
    const before = await fingerprints(root);
    for (const path of ['src/main.ts', 'Dockerfile', 'node_modules/a/index.js', 'package-lock.json'])
      utimesSync(join(root, path), new Date(2001, 0, 1), new Date(2001, 0, 1));
    expect(await fingerprints(root)).toEqual(before);
    // The empty `node_modules` directory a test runner leaves in a workspace changes nothing either.
    mkdirSync(join(root, 'src/node_modules'));
    expect(await fingerprints(root)).toEqual(before);

    // A code change: same size, other content. The workspace's image changes, the dependencies' does not.
    write('src/main.ts', 'console.log(2);\n');
    const edited = await fingerprints(root);
    expect(edited.deps).toBe(before.deps);
    expect(edited.workspace).not.toBe(before.workspace);

    // An install that changes what is installed: the dependencies' image changes.
    write('tools/x/node_modules/b/b.js', 'module.exports = 22;\n');
    expect((await fingerprints(root)).deps).not.toBe(edited.deps);
    write('package-lock.json', '{"lockfileVersion":3,"packages":{}}');
    const locked = await fingerprints(root);
    write('node_modules/.package-lock.json', '{}');
    expect((await fingerprints(root)).deps).not.toBe(locked.deps);

    // Another base, or a file the ignore rules leave out.
    expect(await fingerprints(root, 'sha256:other')).not.toEqual(await fingerprints(root));
    const now = await fingerprints(root);
    write('ignored/big.bin', 'y');
    expect(await fingerprints(root)).toEqual(now);
  });
});
