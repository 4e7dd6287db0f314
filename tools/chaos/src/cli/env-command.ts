import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** One prerequisite of an environment and whether this machine has it. */
interface Need {
  what: string;
  ok: boolean;
  fix?: string;
}

function needs(name: string): Need[] {
  if (name === 'local') return [{ what: 'Node 20 and npm ci (embedded PostgreSQL comes from npm)', ok: true }];
  if (name === 'containers') {
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
  }
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
}

/**
 * `chaos env`: which environment this command line selects, from where (`--env`, `CHAOS_ENV`, the default),
 * and whether this machine has what it needs. Exit 0 when it does, 1 when something is missing (named, with
 * the fix), 2 for an unknown name.
 */
export function envCommand(flag: string | undefined): number {
  const from = flag !== undefined ? '--env' : process.env['CHAOS_ENV'] !== undefined ? 'CHAOS_ENV' : 'the default';
  const name = flag ?? process.env['CHAOS_ENV'] ?? 'local';
  if (!['local', 'containers', 'k8s'].includes(name)) {
    process.stderr.write(`chaos: environment "${name}" (${from}): expected local, containers or k8s\n`);
    return 2;
  }
  console.log(`environment: ${name} (${from})`);
  const list = needs(name);
  for (const n of list) console.log(`  ${n.ok ? 'ok     ' : 'MISSING'} ${n.what}${n.ok || !n.fix ? '' : `: ${n.fix}`}`);
  return list.every((n) => n.ok) ? 0 : 1;
}
