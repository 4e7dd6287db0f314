import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImages, check, imageNames, requireDocker, startContainersEnvironment } from '@nova/containers';
import { beforeAll, describe, expect, it } from 'vitest';

// Every container and network of a containers run is removed on Ctrl-C, when the controller is SIGKILLed,
// and when the environment fails to start. Real Docker; without it these fail with instructions.
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const PARTITION = fileURLToPath(
  new URL('../../../k8s/base/chaos-mesh/experiments/partition-messaging-user.yaml', import.meta.url),
);

beforeAll(async () => {
  await requireDocker();
  await buildImages();
}, 900_000);

/** Containers and networks labelled with this controller PID's runs. */
async function leftovers(controllerPid: number): Promise<{ containers: string[]; networks: string[] }> {
  const containers = (
    await check('docker', ['ps', '-a', '-q', '--filter', `label=dev.nova.chaos/controller-pid=${controllerPid}`])
  )
    .split('\n')
    .filter(Boolean);
  const networks = (await check('docker', ['network', 'ls', '-q'])).split('\n').filter(Boolean);
  return { containers, networks };
}

/** The images of the containers labelled with this controller PID's runs, sorted. */
async function imagesOf(controllerPid: number): Promise<string[]> {
  const out = await check('docker', [
    'ps',
    '--filter',
    `label=dev.nova.chaos/controller-pid=${controllerPid}`,
    '--format',
    '{{.Image}}',
  ]);
  return out.split('\n').filter(Boolean).sort();
}

/**
 * Starts `chaos run --env containers` on the partition experiment (the services from `workspace`: the
 * mounted workspace or their images); resolves once the fault is injected.
 */
function startRun(workspace: 'mount' | 'images'): {
  pid: number;
  injected: Promise<void>;
  exited: Promise<number | null>;
  out: () => string;
} {
  const proc = spawn(
    process.execPath,
    ['--conditions=@nova/source', '--import', 'tsx', CLI, 'run', '--env', 'containers', '--baseline', '1', PARTITION],
    {
      env: {
        ...process.env,
        CHAOS_STATE_DIR: mkdtempSync(join(tmpdir(), 'nova-chaos-')),
        CHAOS_ACTOR: 'cleanup-test',
        NOVA_CONTAINERS_WORKSPACE: workspace,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let onInjected: () => void = () => {};
  const injected = new Promise<void>((r) => (onInjected = r));
  const onData = (c: Buffer): void => {
    out += c.toString();
    if (out.includes('injected kernel-partition')) onInjected();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  void exited.then(() => onInjected());
  return { pid: proc.pid!, injected, exited, out: () => out };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return cond();
}

// Real Docker on a shared VM: see containers.e2e.test.ts for why a failed test runs once more.
describe('containers environment cleanup', { retry: 1 }, () => {
  it('Ctrl-C mid-partition: recovers, reports, exits 130, and removes every container and the network', async () => {
    const networksBefore = (await leftovers(0)).networks;
    const run = startRun('images');
    await run.injected;
    expect((await leftovers(run.pid)).containers.length, run.out()).toBe(5);
    // The services' own images (what a cluster runs), built in beforeAll.
    const names = imageNames();
    expect(await imagesOf(run.pid)).toEqual(
      [names.auth, names.messaging, names.postgres, names.user, names.user].sort(),
    );
    process.kill(run.pid, 'SIGINT');
    expect(await run.exited, run.out()).toBe(130);
    expect(run.out()).toMatch(/interrupted: recovering every fault/);
    const after = await leftovers(run.pid);
    expect(after.containers).toEqual([]);
    expect(after.networks.sort()).toEqual(networksBefore.sort());
  }, 240_000);

  it('a SIGKILLed controller: its guard removes every container and the network', { timeout: 300_000 }, async () => {
    const networksBefore = (await leftovers(0)).networks;
    const run = startRun('mount');
    await run.injected;
    expect((await leftovers(run.pid)).containers.length, run.out()).toBe(5);
    // The workspace mounted on the node base: no service image is needed.
    const names = imageNames();
    expect(await imagesOf(run.pid)).toEqual([...Array(4).fill(names.nodeBase), names.postgres].sort());
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    // `docker rm -f` of five containers deletes five full copies of their file systems with the vfs storage
    // driver: on a slow disk that took over 30 s once in CI, so the guard gets two minutes.
    expect(await until(async () => (await leftovers(run.pid)).containers.length === 0, 120_000), run.out()).toBe(true);
    expect(await until(async () => (await leftovers(run.pid)).networks.length === networksBefore.length, 10_000)).toBe(
      true,
    );
  });

  it('a failed start (an image that does not exist) says why and leaves nothing behind', async () => {
    const networksBefore = (await leftovers(0)).networks;
    const error = await startContainersEnvironment({
      stateDir: mkdtempSync(join(tmpdir(), 'nova-containers-')),
      images: { ...imageNames(), postgres: 'nova/does-not-exist:0' },
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/image nova\/does-not-exist:0 is not on this machine.*npx nx images containers/);
    expect((await leftovers(process.pid)).containers).toEqual([]);
    expect((await leftovers(0)).networks.sort()).toEqual(networksBefore.sort());
  }, 120_000);
});
