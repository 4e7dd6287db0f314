import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdManifests } from '@nova/chaos-spec';
import { startApiServer, type ApiServer } from '@nova/kube-apiserver';
import { freePort } from '@nova/process-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { bearer, unary } from '@nova/proto';
import { startLocalEnvironment, type ChaosEnvironment } from '../src/env/local.ts';
import { ChaosMeshStandIn } from './chaos-mesh-standin.ts';

/*
 * `chaos run --env k8s` against a real kube-apiserver (tools/kube-apiserver) with Chaos Mesh's CRDs and a real
 * Prometheus (Debian's) scraping the local services, which our load drives. Nothing here plays Chaos Mesh's
 * controller for real: ChaosMeshStandIn writes the status conditions and records Chaos Mesh would write (and
 * injects nothing). Pods are API objects mirroring the local services (nothing schedules them).
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
let api: ApiServer;
let env: ChaosEnvironment;
let prometheus: ChildProcess | undefined;
let promUrl: string;
let standIn: ChaosMeshStandIn;
let runnerKubeconfig: string;
let dir: string;
/** The `real-*` objects whose fault the stand-in recovered. */
const recovered: string[] = [];

function kubectl(args: string[], input?: string): string {
  const r = api.kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  if (spawnSync('prometheus', ['--version']).status !== 0)
    throw new Error('Prometheus is required for the k8s run tests: apt-get install prometheus (as .ci/run does)');
  dir = mkdtempSync(join(tmpdir(), 'nova-k8s-run-'));
  api = await startApiServer();
  kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
  kubectl(
    ['apply', '--server-side', '-f', '-'],
    crdManifests()
      .map((c) => stringify(c))
      .join('---\n'),
  );
  kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all']);
  kubectl(['apply', '--server-side', '-n', 'default', '-f', join(ROOT, 'k8s/base/rbac.yaml')]);
  const token = kubectl(['create', 'token', 'chaos-runner', '-n', 'default']).trim();
  runnerKubeconfig = join(dir, 'runner-kubeconfig');
  writeFileSync(runnerKubeconfig, readFileSync(api.kubeconfig, 'utf8').replace(/token: [0-9a-f]+/, `token: ${token}`));
  const pods = ['auth-service-0', 'user-service-0', 'user-service-1', 'messaging-service-0'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      labels: { app: name.replace(/-\d$/, ''), tier: 'backend', 'chaos.mesh/safe': 'true' },
    },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'nova/app:dev' }] },
  }));
  kubectl(['apply', '--server-side', '-f', '-'], pods.map((p) => stringify(p)).join('---\n'));
  env = await startLocalEnvironment({ stateDir: join(dir, 'env') });
  const podsByLabel = async (labels: Record<string, string>): Promise<string[]> =>
    kubectl([
      'get',
      'pods',
      '-n',
      'default',
      '-o',
      'name',
      '-l',
      Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ])
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace('pod/', ''));
  const md = bearer(env.agent.token);
  const client = env.agent.client;
  standIn = new ChaosMeshStandIn(api.kubeconfig, 'default', podsByLabel, {
    // For `real-*` objects the stand-in does what Chaos Mesh's daemon would: the fault, for real, through our agent.
    inject: async (name) => {
      if (!name.startsWith('real-')) return;
      for (const t of (await env.targets()).filter((x) => x.name === 'user-service')) {
        const request = {
          experimentUid: name,
          targetId: t.id,
          kind: 'http-error',
          specJson: JSON.stringify({ status: 503 }),
          leaseMs: 60_000,
          actor: 'chaos-mesh-standin',
        };
        await unary(client.applyFault.bind(client), request, md);
      }
    },
    recover: async (name) => {
      if (!name.startsWith('real-')) return;
      recovered.push(name);
      await unary(client.recoverFault.bind(client), { experimentUid: name, actor: 'chaos-mesh-standin' }, md);
    },
  });
  standIn.start();
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const targets = env.instances.map((i) => new URL(i.url).host);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s' },
      scrape_configs: [{ job_name: 'services', static_configs: [{ targets }] }],
    }),
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const up = await fetch(`${promUrl}/api/v1/query?query=up`)
      .then((r) => r.json() as Promise<{ data?: { result: unknown[] } }>)
      .catch(() => undefined);
    if ((up?.data?.result.length ?? 0) >= targets.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}, 240_000);

afterAll(async () => {
  standIn?.stop();
  prometheus?.kill('SIGTERM');
  await env?.stop();
  await api?.stop();
}, 60_000);

const experiment = (
  name: string,
  o: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    duration?: string;
    ns?: string;
    app?: string;
  } = {},
) =>
  stringify({
    apiVersion: 'chaos-mesh.org/v1alpha1',
    kind: 'NetworkChaos',
    metadata: { name, namespace: 'default', annotations: o.annotations ?? {}, labels: o.labels ?? {} },
    spec: {
      action: 'delay',
      mode: 'one',
      selector: {
        namespaces: [o.ns ?? 'default'],
        labelSelectors: { app: o.app ?? 'auth-service', 'chaos.mesh/safe': 'true' },
      },
      delay: { latency: '50ms' },
      ...(o.duration === undefined ? {} : { duration: o.duration }),
    },
  });

function chaosRun(
  files: string[],
  extra: string[] = [],
): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const reports = join(dir, `reports-${Date.now()}`);
  const proc = spawn(
    process.execPath,
    [
      '--conditions=@nova/source',
      '--import',
      'tsx',
      CLI,
      'run',
      '--env',
      'k8s',
      '--kubeconfig',
      runnerKubeconfig,
      '--prometheus',
      promUrl,
      '--load-targets',
      `user=${env.urls('user').join('|')},auth=${env.urls('auth').join('|')},messaging=${env.urls('messaging').join('|')}`,
      '--rate',
      '20',
      '--baseline',
      '3',
      '--verify',
      '2',
      '--scrape-delay',
      '2',
      '--condition-timeout',
      '4',
      '--delete-timeout',
      '3',
      '--report-dir',
      reports,
      ...extra,
      ...files,
    ],
    {
      env: { ...process.env, CHAOS_STATE_DIR: join(dir, 'state'), NO_COLOR: '1', ALLOWED_NAMESPACES: 'default' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<{ code: number | null; out: string }>((r) => proc.once('exit', (code) => r({ code, out })));
  return { proc, done };
}

const write = (name: string, text: string): string => {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, text);
  return f;
};
const report = (out: string) => {
  const path = /reports: (\S+report\.json)/.exec(out)?.[1];
  return JSON.parse(readFileSync(path!, 'utf8')) as {
    environment: string;
    results: Array<{
      phases?: { faultStart: number; faultEnd: number };
      name: string;
      verdict: string;
      reason?: string;
      checks: Array<{ name: string; ok: boolean; measured: string; evidence?: boolean }>;
      figures?: { fault: { count: number; p99: number } };
    }>;
  };
};
const objects = () => kubectl(['get', 'networkchaos', '-n', 'default', '-o', 'name']).trim();

describe('chaos run --env k8s on a real API server, verdicts from a real Prometheus', () => {
  it('applies each experiment (server-side, as nova-chaos), waits for Chaos Mesh, judges from Prometheus, deletes it', async () => {
    const ok = write(
      'delay-ok',
      experiment('delay-ok', { duration: '4s', annotations: { 'nova.dev/max-error-rate': '0.05' } }),
    );
    // The same fault, with a p99 bound no real service meets: it must fail on the figure Prometheus measured.
    const strict = write(
      'delay-strict',
      experiment('delay-strict', { duration: '3s', annotations: { 'nova.dev/max-p99-ms': '0.001' } }),
    );
    // k6 drives the services here: its own figures are judged beside Prometheus'.
    const { done } = chaosRun([ok, strict], ['--load', 'k6']);
    const { code, out } = await done;
    expect(code, out).toBe(1);
    const r = report(out);
    expect(r.environment).toBe('k8s');
    const [pass, fail] = r.results;
    expect(pass, out).toMatchObject({ name: 'delay-ok', verdict: 'pass' });
    expect(pass!.figures!.fault.count).toBeGreaterThan(20); // ~20 req/s for 4 s, each crossing services
    // The fault window is on the load's clock, as the HTML report's charts draw it: within the run's seconds.
    expect(pass!.phases!.faultEnd - pass!.phases!.faultStart).toBeGreaterThanOrEqual(3_500);
    expect(pass!.phases!.faultStart).toBeGreaterThan(0);
    expect(pass!.phases!.faultEnd).toBeLessThan(120_000);
    expect(pass!.checks.find((c) => c.name === 'error rate seen by k6 during the fault')).toMatchObject({
      ok: true,
      measured: expect.stringMatching(/^0\.0 % of [1-9]\d+ requests$/),
    });
    expect(pass!.checks.find((c) => c.evidence)).toMatchObject({
      name: 'fault took effect on default/auth-service-0 (Chaos Mesh record)',
      ok: true,
      measured: 'Recovered, injected 1×, recovered 1×',
    });
    expect(fail).toMatchObject({ name: 'delay-strict', verdict: 'fail' });
    const p99 = fail!.checks.find((c) => c.name === 'p99 during the fault')!;
    expect(p99.ok).toBe(false);
    expect(Number(/^(\d+) ms$/.exec(p99.measured)?.[1])).toBeGreaterThan(0);
    expect(fail!.checks.find((c) => c.name === 'p99 seen by k6 during the fault')?.ok).toBe(false);
    expect(standIn.seen.get('delay-ok')?.managers).toContainEqual({ manager: 'nova-chaos', operation: 'Apply' });
    expect(objects()).toBe('');
    const audit = readFileSync(join(dir, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"action":"k8s-apply","subject":"NetworkChaos\/delay-ok in default","result":"ok"/);
    expect(audit).toMatch(/"action":"k8s-delete","subject":"NetworkChaos\/delay-ok in default","result":"ok"/);
  }, 120_000);

  it('an unanswered object times out and is deleted; a refused one is never applied; a stuck one names the fix', async () => {
    const down = write(
      'no-controller',
      experiment('no-controller', { duration: '3s', labels: { 'standin/ignore': 'true' } }),
    );
    const stuck = write('stuck', experiment('stuck', { duration: '2s', labels: { 'standin/stuck': 'true' } }));
    const other = write('other-ns', experiment('other-ns', { duration: '2s', ns: 'kube-system' }));
    // Someone else's object of the same name: refused, and left as it was.
    const theirs = experiment('theirs', { duration: '2s', labels: { 'standin/ignore': 'true' } });
    kubectl(['apply', '--server-side', '--field-manager', 'someone', '-f', '-'], theirs);
    const { done } = chaosRun([down, stuck, other, write('theirs', theirs)]);
    const { code, out } = await done;
    expect(code, out).toBe(1);
    const [a, b, c, d] = report(out).results;
    expect(d).toMatchObject({
      verdict: 'error',
      reason: expect.stringMatching(
        /^NetworkChaos\/theirs already exists in default .*nothing applied; delete it \(kubectl delete networkchaos.chaos-mesh.org\/theirs -n default\)/,
      ),
    });
    expect(
      kubectl([
        'get',
        'networkchaos',
        'theirs',
        '-n',
        'default',
        '-o',
        'jsonpath={.metadata.managedFields[*].manager}',
      ]),
    ).toBe('someone');
    kubectl(['delete', 'networkchaos', 'theirs', '-n', 'default']);
    expect(a, out).toMatchObject({
      verdict: 'error',
      reason: expect.stringMatching(/^Chaos Mesh did not report AllInjected within 4 s/),
    });
    expect(b!.reason).toContain(
      `kubectl patch networkchaos.chaos-mesh.org/stuck -n default --type=merge -p '{"metadata":{"finalizers":null}}'`,
    );
    expect(c).toMatchObject({
      verdict: 'error',
      reason: expect.stringMatching(/^refused by the safety policy: .*kube-system/),
    });
    expect(standIn.seen.has('other-ns')).toBe(false);
    // The stuck one is still there, held by its finalizer; clearing it as the message says lets it go.
    expect(objects()).toBe('networkchaos.chaos-mesh.org/stuck');
    kubectl([
      'patch',
      'networkchaos.chaos-mesh.org/stuck',
      '-n',
      'default',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    expect(objects()).toBe('');
  }, 120_000);

  it('Ctrl-C mid-fault deletes the object, so Chaos Mesh recovers it, and exits 130', async () => {
    const long = write('long', experiment('long', { duration: '60s' }));
    const { proc, done } = chaosRun([long]);
    const deadline = Date.now() + 30_000;
    while (!standIn.seen.has('long') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1_000));
    proc.kill('SIGINT');
    const { code, out } = await done;
    expect(code, out).toBe(130);
    expect(report(out).results[0]).toMatchObject({ verdict: 'error', reason: expect.stringMatching(/^interrupted/) });
    expect(objects()).toBe('');
  }, 60_000);

  it("a halt condition pauses the experiment through Chaos Mesh's annotation when the errors it measures pass it", async () => {
    // The stand-in answers user-service's requests with 503 for real (through the agent) while it is injected.
    const halting = write(
      'real-halt',
      experiment('real-halt', {
        app: 'user-service',
        duration: '40s',
        annotations: { 'nova.dev/abort-error-rate': '0.05' },
      }),
    );
    const started = Date.now();
    const { code, out } = await chaosRun([halting]).done;
    expect(code, out).toBe(1);
    const [r] = report(out).results;
    expect(r, out).toMatchObject({ verdict: 'fail' });
    const halt = r!.checks.find((c) => c.name === 'halt condition')!;
    expect(halt.ok).toBe(false);
    expect(halt.measured).toMatch(
      /halted, paused through experiment.chaos-mesh.org\/pause \(Chaos Mesh confirmed Paused\)$/,
    );
    // Its errors were measured by Prometheus, and the fault ended long before its 40 s.
    expect(r!.checks.find((c) => c.name === 'error rate during the fault')!.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(35_000);
    expect(recovered).toContain('real-halt');
    expect(objects()).toBe('');
    expect(readFileSync(join(dir, 'state', 'audit.jsonl'), 'utf8')).toMatch(
      /"action":"k8s-pause","subject":"NetworkChaos\/real-halt"/,
    );
  }, 90_000);
});
