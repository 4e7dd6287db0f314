import { spawn } from 'node:child_process';
import { postgresAnswers } from '@nova/local-postgres';
import { DOCKER_LABELS } from '@nova/proto';
import {
  LivenessProbe,
  UNRESPONSIVE_KILL_GRACE_MS,
  unresponsiveReason,
  type LivenessOptions,
  type StackLifecycleEvent,
} from '@nova/stack';
import { request } from 'undici';
import { run } from './docker.ts';
import type { Replica } from './run-containers.ts';

/** Polls `url` until it answers 200. */
export async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await request(url, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not healthy within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits until PostgreSQL, started again at `since` (ISO time), says it accepts connections (its log; the
 * image has no client tools).
 */
async function waitPostgresReady(container: string, since: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('docker', ['logs', '--since', since, container]);
    if (/database system is ready to accept connections/.test(r.stdout + r.stderr)) return;
    if (Date.now() > deadline) throw new Error(`${container} did not accept connections within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The supervision of one run's containers; `stop()` ends it (before the containers are stopped on purpose). */
export interface ContainerSupervision {
  stop(): void;
}

/** Is the container paused (`docker pause`: a pod-failure fault holds it, on purpose)? */
async function paused(container: string): Promise<boolean> {
  const r = await run('docker', ['inspect', '--format', '{{.State.Paused}}', container]);
  return r.stdout.trim() === 'true';
}

/**
 * The liveness probe of one replica's container, started once it is healthy: a container that stops answering
 * (its process hung or SIGSTOPped; a paused one is a pod-failure fault and left alone) is stopped (SIGTERM,
 * SIGKILL after {@link UNRESPONSIVE_KILL_GRACE_MS}), and its `die` event restarts it as any crash's.
 */
function containerLiveness(
  replica: Replica,
  stopping: () => boolean,
  onLifecycle: ((event: StackLifecycleEvent) => void) | undefined,
  options: LivenessOptions | undefined,
): LivenessProbe {
  return new LivenessProbe(
    {
      // Read at each check: a restarted container may have another address.
      get url() {
        return `${replica.url}/healthz`;
      },
      incarnation: () => (replica.running ? replica.restarts : undefined),
      held: () => paused(replica.containerName),
      onUnresponsive: (failures, lastError) => {
        if (stopping()) return;
        onLifecycle?.({
          instance: replica.name,
          type: 'unresponsive',
          code: null,
          reason: unresponsiveReason('of /healthz', failures, lastError, `stopping container ${replica.containerName}`),
        });
        void run('docker', ['stop', '--time', String(UNRESPONSIVE_KILL_GRACE_MS / 1000), replica.containerName]);
      },
    },
    options,
  );
}

/** The container's address on its run's network, reachable from this host (Docker's bridge). */
async function containerIp(container: string): Promise<string> {
  const r = await run('docker', [
    'inspect',
    '--format',
    '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
    container,
  ]);
  const ip = r.stdout.trim().split(/\s+/)[0];
  if (!ip) throw new Error(`container ${container} has no address`);
  return ip;
}

/**
 * Points `replica.url` at the container's address after a restart: Docker gives a started container an
 * address from the network's pool again, not necessarily its last one (a container started meanwhile, such as
 * a fault's helper, may hold it), and a stale URL is refused, or answered by another container.
 */
export async function readdress(replica: Pick<Replica, 'url' | 'containerName'>): Promise<void> {
  const url = new URL(replica.url);
  url.hostname = await containerIp(replica.containerName);
  replica.url = url.origin;
}

/**
 * The liveness probe of PostgreSQL's container: a new connection from this host must be answered (an
 * SSLRequest). A hung postmaster (SIGSTOP) still serves the services' open connections but accepts none; it
 * is stopped (`docker stop`) and its `die` event restarts it with its data. Its address is read once per
 * start, as a restart may give it another.
 */
function postgresContainerLiveness(
  postgres: { name: string; restarts: number; running: boolean },
  stopping: () => boolean,
  onLifecycle: ((event: StackLifecycleEvent) => void) | undefined,
  options: LivenessOptions | undefined,
): LivenessProbe {
  let ip: Promise<string> | undefined;
  const probe = new LivenessProbe(
    {
      check: async (timeoutMs) => {
        ip ??= containerIp(postgres.name);
        await postgresAnswers(`postgres://probe@${await ip}:5432/postgres`, timeoutMs);
      },
      incarnation: () => (postgres.running ? postgres.restarts : undefined),
      // A pod-failure fault pauses the container: the fault, not a hang.
      held: () => paused(postgres.name),
      onUnresponsive: (failures, lastError) => {
        if (stopping()) return;
        onLifecycle?.({
          instance: 'postgresql',
          type: 'unresponsive',
          code: null,
          reason: unresponsiveReason('(a new connection)', failures, lastError, `stopping container ${postgres.name}`),
        });
        void run('docker', ['stop', '--time', String(UNRESPONSIVE_KILL_GRACE_MS / 1000), postgres.name]);
      },
    },
    options,
  );
  const start = probe.start.bind(probe);
  // A new start, perhaps a new address.
  probe.start = () => {
    ip = undefined;
    start();
  };
  return probe;
}

/**
 * Restarts containers that die (a pod-kill/container-kill, or stopped by their liveness probe), with backoff,
 * as a kubelet restarts a pod's containers; reads `docker events` for this run's containers. PostgreSQL's
 * container too (with its data: a restarted container keeps its filesystem), reported as `postgresql`, so an
 * experiment during which it died is an error, as in the local environment.
 */
export function superviseContainers(
  runId: string,
  replicas: Replica[],
  stopping: () => boolean,
  onLifecycle: ((event: StackLifecycleEvent) => void) | undefined,
  liveness?: LivenessOptions,
): ContainerSupervision {
  const postgres = { name: `${runId}-postgres`, restarts: 0, running: true };
  const pgProbe = postgresContainerLiveness(postgres, stopping, onLifecycle, liveness);
  const probes = new Map(replicas.map((r) => [r, containerLiveness(r, stopping, onLifecycle, liveness)]));
  const events = spawn(
    'docker',
    [
      'events',
      '--filter',
      `label=${DOCKER_LABELS.run}=${runId}`,
      '--filter',
      'event=die',
      '--format',
      '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let buffered = '';
  events.stdout!.on('data', (c: Buffer) => {
    buffered += c.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const [name, code] = buffered.slice(0, nl).split(' ');
      buffered = buffered.slice(nl + 1);
      if (name === postgres.name && !stopping()) {
        postgres.running = false;
        pgProbe.stop();
        onLifecycle?.({ instance: 'postgresql', type: 'exited', code: Number(code) });
        const backoff = Math.min(5_000, 250 * 2 ** postgres.restarts++);
        setTimeout(() => {
          if (stopping()) return;
          const since = new Date().toISOString();
          void run('docker', ['start', postgres.name])
            .then(() => waitPostgresReady(postgres.name, since, 30_000))
            .then(() => {
              postgres.running = true;
              pgProbe.start();
              onLifecycle?.({ instance: 'postgresql', type: 'restarted', code: null });
            })
            .catch(() => undefined);
        }, backoff);
        continue;
      }
      const replica = replicas.find((r) => r.containerName === name);
      if (!replica || stopping()) continue;
      replica.running = false;
      probes.get(replica)?.stop();
      onLifecycle?.({ instance: replica.name, type: 'exited', code: Number(code) });
      const backoff = Math.min(5_000, 250 * 2 ** replica.restarts);
      replica.restarts++;
      setTimeout(() => {
        if (stopping()) return;
        void run('docker', ['start', replica.containerName])
          .then(() => readdress(replica))
          .then(() => waitHealthy(`${replica.url}/readyz`, 30_000))
          .then(() => {
            replica.running = true;
            probes.get(replica)?.start();
            onLifecycle?.({ instance: replica.name, type: 'restarted', code: null });
          })
          .catch(() => undefined);
      }, backoff);
    }
  });
  events.unref();
  (events.stdout as unknown as { unref?: () => void }).unref?.();
  for (const probe of [...probes.values(), pgProbe]) probe.start();
  return {
    stop: () => {
      for (const probe of [...probes.values(), pgProbe]) probe.stop();
      events.kill('SIGTERM');
    },
  };
}
