import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startContainersEnvironment } from '@nova/containers';
import { offersNetem, type ChaosEnvironment } from '@nova/stack';
import { startLocalEnvironment } from './local.ts';

/** One prerequisite of an environment and whether this machine has it. */
export interface Need {
  what: string;
  ok: boolean;
  /** What to do when it is missing. */
  fix?: string;
}

/** What starting an environment needs from its caller. */
export interface StartOptions {
  /** The run's directory: the agent's journal, the audit, PostgreSQL's data (local). */
  stateDir: string;
  /** A supervised instance exited or was restarted. */
  onLifecycle: (e: { instance: string; type: string; code: number | null }) => void;
  /** Lines for people (image builds, notes). */
  log: (line: string) => void;
}

/**
 * One kind of environment the same experiment files run in: its name, what it needs on this machine, and how
 * to start it. `local` and `containers` start a {@link ChaosEnvironment} (agent, services, targets) that the
 * runner drives; `k8s` is a cluster, where Chaos Mesh applies the faults (`chaos run --env k8s`), so it has
 * no `start`.
 */
export interface EnvironmentKind {
  readonly name: 'local' | 'containers' | 'k8s';
  /** What starting it brings up, for the line printed before it starts. */
  readonly summary: string;
  /** What it needs, checked on this machine now. */
  needs(): Need[];
  start?(options: StartOptions): Promise<ChaosEnvironment>;
}

const local: EnvironmentKind = {
  name: 'local',
  summary: 'embedded PostgreSQL, chaos-agent, user-service ×2, auth-service, messaging-service',
  needs: () => [{ what: 'Node 20 and npm ci (embedded PostgreSQL comes from npm)', ok: true }],
  start: ({ stateDir, onLifecycle }) => startLocalEnvironment({ stateDir, onLifecycle }),
};

const containers: EnvironmentKind = {
  name: 'containers',
  summary:
    'PostgreSQL, user-service ×2, auth-service, messaging-service in Docker (this workspace mounted read-only; NOVA_CONTAINERS_WORKSPACE=images runs their built images); chaos-agent on the host with the Docker and kernel drivers',
  needs() {
    const docker = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
    return [
      {
        what: 'root (the agent enters the containers network namespaces)',
        ok: process.getuid?.() === 0,
        fix: 'run as root (sudo npx nx chaos:containers)',
      },
      {
        what: `a running Docker engine${docker.status === 0 ? ` (${docker.stdout.trim()})` : ''}`,
        ok: docker.status === 0,
        fix: 'apt-get install docker.io, then dockerd --storage-driver=vfs &',
      },
    ];
  },
  async start({ stateDir, onLifecycle, log }) {
    const env = await startContainersEnvironment({
      stateDir,
      onLifecycle,
      onLine: (source, l) => source === 'images' && log(`    ${l}`),
    });
    if (!offersNetem(env.kinds))
      log('    note: this kernel has no netem qdisc: NetworkChaos delay is injected in-process, corrupt is refused');
    return env;
  },
};

const k8s: EnvironmentKind = {
  name: 'k8s',
  summary: 'a cluster with Chaos Mesh (the faults) and Prometheus (the verdicts)',
  needs() {
    const kc = new KubeConfig();
    let cluster: string | undefined;
    // Without any of these, the client falls back to http://localhost:8080, which is no cluster of ours.
    const configured =
      (process.env['KUBECONFIG'] ?? '').split(':').some((f) => f !== '' && existsSync(f)) ||
      existsSync(join(homedir(), '.kube', 'config')) ||
      process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
    try {
      kc.loadFromDefault();
      cluster = configured ? kc.getCurrentCluster()?.server : undefined;
    } catch {
      cluster = undefined;
    }
    return [
      {
        what: `a cluster in $KUBECONFIG or ~/.kube/config${cluster ? ` (${cluster}, context ${kc.currentContext})` : ''}`,
        ok: cluster !== undefined,
        fix: 'set KUBECONFIG, or pass --kubeconfig to run and plan',
      },
      {
        what: `a Prometheus scraping the services${process.env['PROMETHEUS_URL'] ? ` (${process.env['PROMETHEUS_URL']})` : ''}`,
        ok: process.env['PROMETHEUS_URL'] !== undefined,
        fix: 'set PROMETHEUS_URL, or pass --prometheus to run (docs/kubernetes.md)',
      },
    ];
  },
};

/** Every environment, in the order `chaos env` and the usage name them. */
export const ENVIRONMENT_KINDS: readonly EnvironmentKind[] = [local, containers, k8s];

/** The environment called `name`, or undefined. */
export function environmentKind(name: string): EnvironmentKind | undefined {
  return ENVIRONMENT_KINDS.find((e) => e.name === name);
}

/** The environments this process starts itself (not a cluster's). */
export const STARTABLE = ENVIRONMENT_KINDS.filter((e) => e.start !== undefined).map((e) => e.name);
