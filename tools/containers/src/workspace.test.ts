import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkWorkspaceReadable, serviceCommand, WORKSPACE_ROOT, workspaceMode } from './workspace.ts';

describe('workspaceMode', () => {
  it('is mount by default, images on request, and refuses anything else naming the choices', () => {
    expect(workspaceMode({})).toBe('mount');
    expect(workspaceMode({ NOVA_CONTAINERS_WORKSPACE: ' images ' })).toBe('images');
    expect(workspaceMode({ NOVA_CONTAINERS_WORKSPACE: 'mount' })).toBe('mount');
    expect(() => workspaceMode({ NOVA_CONTAINERS_WORKSPACE: 'bind' })).toThrow(
      /NOVA_CONTAINERS_WORKSPACE=bind is not a workspace mode: use "mount" .* or "images"/,
    );
  });
});

describe('serviceCommand', () => {
  it.each(['user', 'auth', 'messaging'] as const)(
    'runs %s as its Dockerfile does, so both modes start the same code',
    async (service) => {
      const dockerfile = await readFile(join(WORKSPACE_ROOT, `services/${service}/Dockerfile`), 'utf8');
      const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
      expect(JSON.parse(cmd!)).toEqual(serviceCommand(service));
    },
  );
});

describe('checkWorkspaceReadable', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'nova-workspace-'));
    for (const dir of ['node_modules/tsx', 'libs', 'services/user/src'])
      await mkdir(join(root, dir), { recursive: true });
    await writeFile(join(root, 'node_modules/tsx/package.json'), '{}');
    await writeFile(join(root, 'services/user/src/main.ts'), '');
    await chmod(root, 0o755);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('passes a world-readable workspace (as git and npm leave one with umask 022)', async () => {
    await expect(checkWorkspaceReadable(root)).resolves.toBeUndefined();
    // This repository itself, as the containers environment mounts it.
    await expect(checkWorkspaceReadable()).resolves.toBeUndefined();
  });

  it('names an unreadable path and both fixes', async () => {
    await chmod(join(root, 'services/user/src/main.ts'), 0o600);
    await expect(checkWorkspaceReadable(root)).rejects.toThrow(
      new RegExp(
        `${root}/services/user/src/main.ts is not readable by uid 1000.*chmod -R o\\+rX.*NOVA_CONTAINERS_WORKSPACE=images`,
      ),
    );
  });

  it('needs search permission on directories, and accepts what uid 1000 owns', async () => {
    await chmod(join(root, 'libs'), 0o750);
    await expect(checkWorkspaceReadable(root)).rejects.toThrow(/libs is not readable by uid 1000/);
    if (process.getuid?.() === 0) {
      await chown(join(root, 'libs'), 1000, 1000);
      await expect(checkWorkspaceReadable(root)).resolves.toBeUndefined();
    }
  });

  it('says to install first when node_modules is missing', async () => {
    await rm(join(root, 'node_modules'), { recursive: true });
    await expect(checkWorkspaceReadable(root)).rejects.toThrow(/node_modules is missing: run `npm ci`/);
  });
});
