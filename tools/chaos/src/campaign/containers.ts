import { spawnSync } from 'node:child_process';
import { DOCKER_LABELS } from '@nova/proto';

/** A container a run started, found by the controller-pid label every container of the run carries. */
export interface RunContainer {
  name: string;
  role: 'postgresql' | 'service';
}

function docker(args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout : '';
}

/** The containers (running or not) of the run whose controller had this pid. */
export function runContainers(controllerPid: number): RunContainer[] {
  return docker([
    'ps',
    '-a',
    '--filter',
    `label=${DOCKER_LABELS.controllerPid}=${controllerPid}`,
    '--format',
    '{{.Names}}',
  ])
    .split('\n')
    .filter(Boolean)
    .sort()
    .map((name) => ({ name, role: name.endsWith('-postgres') ? 'postgresql' : 'service' }));
}

/** Docker networks now (ids). */
export function networks(): Set<string> {
  return new Set(docker(['network', 'ls', '-q', '--no-trunc']).split('\n').filter(Boolean));
}

/**
 * Signals a container's main process (`docker kill --signal`): SIGKILL as the OOM killer or a crash would,
 * SIGSTOP as a hang would (a process signal, not `docker pause`, so the container can still be stopped).
 */
export function signalContainer(name: string, sig: 'SIGKILL' | 'SIGSTOP'): boolean {
  const args = ['kill', '--signal', sig.replace(/^SIG/, ''), name];
  return spawnSync('docker', args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * What the run left in Docker: its containers, and networks created since `before`. Waits up to `graceMs` for
 * them to go (a dead controller's guard removes them a few seconds after it noticed).
 */
export async function dockerLeaks(controllerPid: number, before: Set<string>, graceMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const leaks = [
      ...runContainers(controllerPid).map((c) => `container ${c.name}`),
      ...[...networks()].filter((n) => !before.has(n)).map((n) => `network ${n.slice(0, 12)}`),
    ];
    if (leaks.length === 0 || Date.now() > deadline) return leaks;
    await new Promise((r) => setTimeout(r, 500));
  }
}
