import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * The nx targets a user types (README): each must reach the CLI with its environment, since nx keeps `--env`
 * for itself. `chaos env` says which environment the command line selected and from where.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'nova-nx-targets-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]',
    'users: [{ name: u, user: { token: t } }]',
    'contexts: [{ name: ctx, context: { cluster: c, user: u } }]',
    'current-context: ctx',
  ].join('\n'),
);

function nx(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('npx', ['nx', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      NX_DAEMON: 'false',
      NX_TUI: 'false',
      KUBECONFIG: kubeconfig,
      PROMETHEUS_URL: 'http://127.0.0.1:9',
    },
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the nx targets of the README', () => {
  it.each([
    [['chaos:local', '--', 'env'], 'local'],
    [['chaos:containers', '--', 'env'], 'containers'],
    [['chaos', '-c', 'containers', '--', 'env'], 'containers'],
    [['chaos:k8s', '--', 'env'], 'k8s'],
  ])(
    'npx nx %j reaches the CLI with the %s environment',
    (args, env) => {
      const { out } = nx(args);
      expect(out).toContain(`environment: ${env} (CHAOS_ENV)`);
    },
    60_000,
  );

  it('chaos:k8s checks what a cluster run needs: the cluster of $KUBECONFIG and a Prometheus', () => {
    const { status, out } = nx(['chaos:k8s', '--', 'env']);
    expect(out).toContain('ok      a cluster in $KUBECONFIG or ~/.kube/config (https://127.0.0.1:6443, context ctx)');
    expect(out).toContain('ok      a Prometheus scraping the services (http://127.0.0.1:9)');
    expect(status).toBe(0);
  }, 60_000);
});
