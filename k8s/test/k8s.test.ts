import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPolicy, policyFromEnv } from '@nova/chaos';
import { parseDuration, parseResources, parseSchedule, type Resource } from '@nova/chaos-spec';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';

const K8S = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(K8S, '..');

/** Tools these tests need; in CI they are mandatory, by hand a missing one fails with how to install it. */
function need(tool: string, install: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  if (!found) throw new Error(`${tool} is required by the k8s tests: ${install}`);
}

/** `kubectl kustomize` (or the kustomize binary), offline. */
function render(dir: string): Array<Record<string, unknown>> {
  const useKubectl = spawnSync('sh', ['-c', 'command -v kubectl']).status === 0;
  if (!useKubectl)
    need('kustomize', 'install kubectl, or `go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0` (.ci/run does)');
  const out = useKubectl
    ? execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })
    : execFileSync('kustomize', ['build', dir], { encoding: 'utf8' });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Record<string, unknown>)
    .filter(Boolean);
}

const MODELS: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

/** Validates one rendered object: Chaos Mesh kinds against the CRD schemas and webhook rules, the rest against Kubernetes' schemas. */
async function validate(obj: Record<string, unknown>): Promise<string[]> {
  const apiVersion = String(obj['apiVersion']);
  if (apiVersion === 'chaos-mesh.org/v1alpha1') {
    return parseResources(stringify(obj), `${obj['kind']}/${(obj['metadata'] as { name: string }).name}`).issues.map(
      (i) => `${i.file} ${i.path}: ${i.message}`,
    );
  }
  const module = MODELS[apiVersion];
  if (!module) return [`${apiVersion} ${obj['kind']}: no schema to validate against`];
  const models = (await import(module)) as Record<string, new (o: unknown) => { validate(): void }>;
  const Model = models[String(obj['kind'])];
  if (!Model) return [`${apiVersion} ${obj['kind']}: unknown kind`];
  try {
    new Model(obj).validate();
    return [];
  } catch (error) {
    return [`${obj['kind']}/${(obj['metadata'] as { name: string }).name}: ${(error as Error).message}`];
  }
}

const overlays = {
  base: join(K8S, 'base'),
  staging: join(K8S, 'overlays/staging/chaos-mesh'),
  production: join(K8S, 'overlays/production/chaos-mesh'),
};
const rendered: Record<string, Array<Record<string, unknown>>> = {};

beforeAll(() => {
  for (const [name, dir] of Object.entries(overlays)) rendered[name] = render(dir);
});

describe('kustomize', () => {
  it('builds the base and every overlay offline', () => {
    const kinds = (name: string) => rendered[name]!.map((o) => o['kind']);
    expect(kinds('base')).toEqual(
      expect.arrayContaining([
        'Deployment',
        'Service',
        'StatefulSet',
        'DaemonSet',
        'Role',
        'RoleBinding',
        'ServiceMonitor',
        'PrometheusRule',
        'Secret',
      ]),
    );
    expect(kinds('staging')).toEqual(
      expect.arrayContaining([
        'NetworkChaos',
        'PodChaos',
        'StressChaos',
        'IOChaos',
        'HTTPChaos',
        'Workflow',
        'Schedule',
      ]),
    );
    expect(kinds('production')).toEqual(
      expect.arrayContaining(['NetworkChaos', 'PodChaos', 'Schedule', 'Ingress', 'Namespace']),
    );
  });

  it('renders only objects that validate against their schemas', async () => {
    for (const [name, objects] of Object.entries(rendered)) {
      const problems = (await Promise.all(objects.map(validate))).flat();
      expect(problems, name).toEqual([]);
    }
  });

  it('gives every service probes, resources, a grace period and the opt-in label; the agent its node address', () => {
    const deployments = rendered['base']!.filter((o) => o['kind'] === 'Deployment') as Array<{
      metadata: { name: string };
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: {
            terminationGracePeriodSeconds: number;
            containers: Array<
              Record<string, unknown> & { env: Array<{ name: string; value?: string; valueFrom?: unknown }> }
            >;
          };
        };
      };
    }>;
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'auth-service',
      'messaging-service',
      'user-service',
    ]);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0]!;
      expect(c['readinessProbe'], d.metadata.name).toMatchObject({ httpGet: { path: '/readyz' } });
      expect(c['livenessProbe'], d.metadata.name).toMatchObject({ httpGet: { path: '/healthz' } });
      expect(c['resources'], d.metadata.name).toMatchObject({
        requests: expect.any(Object),
        limits: expect.any(Object),
      });
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
      expect(d.spec.template.metadata.labels).toMatchObject({ tier: 'backend', 'chaos.mesh/safe': 'true' });
      expect(c.env.find((e) => e.name === 'NODE_IP')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.hostIP' } });
      expect(c.env.find((e) => e.name === 'CHAOS_AGENT_ADDR')?.value).toBe('$(NODE_IP):7070');
    }
    const role = rendered['base']!.find((o) => o['kind'] === 'Role') as {
      rules: Array<{ apiGroups: string[]; verbs: string[] }>;
    };
    // The one cluster-wide role is the agent's, and it only reads pods (what a registering service is).
    const clusterRoles = rendered['base']!.filter((o) => o['kind'] === 'ClusterRole') as Array<{
      metadata: { name: string };
      rules: unknown[];
    }>;
    expect(clusterRoles.map((r) => [r.metadata.name, r.rules])).toEqual([
      ['nova-chaos-agent', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]],
    ]);
    expect(role.rules[0]!.apiGroups).toEqual(['chaos-mesh.org']);
  });

  it("splits the agent's credentials by role, serves TLS, writes no token, and admits only targets and the controller", () => {
    const base = rendered['base']!;
    type Pod = {
      containers: Array<{
        args?: string[];
        env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } }>;
        volumeMounts?: Array<{ name: string; mountPath: string }>;
      }>;
      volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string }> } }>;
    };
    const podOf = (kind: string, name: string): Pod =>
      (base.find((o) => o['kind'] === kind && (o['metadata'] as { name: string }).name === name) as {
        spec: { template: { spec: Pod } };
      })!.spec.template.spec;
    // No Secret of the agent is rendered: agent-secrets.sh makes them per cluster.
    const secrets = base.filter((o) => o['kind'] === 'Secret').map((o) => (o['metadata'] as { name: string }).name);
    expect(secrets.filter((n) => n.startsWith('chaos-agent'))).toEqual([]);
    const agent = podOf('DaemonSet', 'chaos-agent');
    expect(agent.containers[0]!.args).toEqual(
      expect.arrayContaining([
        '--token-file=/etc/chaos-agent/controller/token',
        '--service-token-file=/etc/chaos-agent/services/token',
        '--tls-cert=/etc/chaos-agent/tls/tls.crt',
        '--tls-key=/etc/chaos-agent/tls/tls.key',
        '--peer-identity=pod',
      ]),
    );
    // Its node's name, from the platform: the pods it checks registrations against are those of this node.
    expect(JSON.stringify(agent.containers[0])).toContain(
      JSON.stringify({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }),
    );
    expect(agent.volumes!.map((v) => v.secret?.secretName).filter(Boolean)).toEqual([
      'chaos-agent-controller',
      'chaos-agent-services',
      'chaos-agent-tls',
    ]);
    for (const name of ['user-service', 'auth-service', 'messaging-service']) {
      const pod = podOf('Deployment', name);
      const env = pod.containers[0]!.env!;
      // The services' token only, and of the TLS Secret only the CA certificate.
      expect(env.find((e) => e.name === 'CHAOS_AGENT_TOKEN')?.valueFrom?.secretKeyRef?.name, name).toBe(
        'chaos-agent-services',
      );
      expect(JSON.stringify(pod)).not.toContain('chaos-agent-controller');
      expect(pod.volumes!.find((v) => v.secret?.secretName === 'chaos-agent-tls')?.secret?.items).toEqual([
        { key: 'ca.crt', path: 'ca.crt' },
      ]);
      expect(env.find((e) => e.name === 'CHAOS_AGENT_CA_FILE')?.value).toBe('/etc/chaos-agent-ca/ca.crt');
    }
    const policy = base.find((o) => o['kind'] === 'NetworkPolicy') as {
      spec: {
        podSelector: unknown;
        policyTypes: string[];
        ingress: Array<{ from: unknown[]; ports: Array<{ port: number }> }>;
      };
    };
    expect(policy.spec.podSelector).toEqual({ matchLabels: { app: 'chaos-agent' } });
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress.map((r) => r.ports.map((p) => p.port))).toEqual([[7070], [7071]]);
    expect(policy.spec.ingress[0]!.from).toEqual([
      { podSelector: { matchLabels: { 'chaos.mesh/safe': 'true' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/component': 'chaos-controller' } } },
    ]);
  });
});

describe('production overlay policy', () => {
  const chaos = (): Resource[] =>
    rendered['production']!.filter((o) => o['apiVersion'] === 'chaos-mesh.org/v1alpha1').flatMap(
      (o) => parseResources(stringify(o), 'production').resources,
    );

  it('has only approved, canary-only experiments under a minute, all schedules Forbid', () => {
    const resources = chaos();
    expect(resources.length).toBeGreaterThanOrEqual(5);
    const policy = { ...policyFromEnv({ CHAOS_PROFILE: 'production', CHAOS_ACTOR: 'ci' }) };
    for (const r of resources) expect(checkPolicy(r, [], policy), `${r.kind}/${r.metadata.name}`).toEqual([]);
    for (const r of resources.filter((x) => x.kind === 'Schedule'))
      expect((r.spec as { concurrencyPolicy?: string }).concurrencyPolicy).toBe('Forbid');
  });

  it("follows the guide's production calendar: network and stress weekly on Sunday, pods monthly", () => {
    const schedules = chaos().filter((r) => r.kind === 'Schedule') as Array<
      Resource & { spec: { schedule: string; type: string } }
    >;
    const sunday = new Date('2026-11-22T00:00:00Z');
    const next = (type: string) =>
      parseSchedule(schedules.find((s) => s.spec.type === type)!.spec.schedule).next(sunday)!;
    expect(next('NetworkChaos').toISOString()).toBe('2026-11-22T03:00:00.000Z');
    expect(next('StressChaos').toISOString()).toBe('2026-11-22T05:00:00.000Z');
    expect(next('PodChaos').toISOString()).toBe('2026-12-01T04:00:00.000Z');
  });

  it('would catch a violation (the check is not vacuous)', () => {
    const staging = rendered['staging']!.filter((o) => o['apiVersion'] === 'chaos-mesh.org/v1alpha1').flatMap(
      (o) => parseResources(stringify(o), 'staging').resources,
    );
    const policy = policyFromEnv({ CHAOS_PROFILE: 'production', CHAOS_ACTOR: 'ci' });
    const refused = staging.filter((r) => checkPolicy(r, [], policy).length > 0);
    expect(refused.length).toBe(staging.length);
    const long = staging.find(
      (r) =>
        r.kind === 'Schedule' &&
        parseDuration(String((r.spec as Record<string, { duration?: string }>)['networkChaos']?.duration ?? '0s'))! >=
          60_000,
    );
    expect(long).toBeDefined();
  });
});

describe('alerts', () => {
  it('pass promtool check and unit tests, written against the metrics we export', () => {
    need('promtool', 'apt-get install prometheus (Debian), as .ci/run does');
    const rule = rendered['base']!.find((o) => o['kind'] === 'PrometheusRule') as {
      spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    };
    const dir = mkdtempSync(join(tmpdir(), 'nova-rules-'));
    writeFileSync(join(dir, 'rules.yml'), stringify(rule.spec));
    copyFileSync(join(K8S, 'base/monitoring/rules/alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync('promtool', ['test', 'rules', join(dir, 'alerts.test.yaml')], { encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/SUCCESS/);
    const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual([
      'ChaosExperimentFailed',
      'TooManyChaosExperiments',
      'HighErrorRate',
      'HighLatencyP99',
      'CircuitBreakerOpen',
    ]);
    const tested = parse(readFileSync(join(K8S, 'base/monitoring/rules/alerts.test.yaml'), 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string }> }>;
    };
    expect(new Set(tested.tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)))).toEqual(new Set(alerts));
    // Every metric an alert reads is one the code exports.
    const exported = [
      'chaos_experiments_failed_total',
      'chaos_agent_faults_active',
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'circuit_breaker_state',
    ];
    for (const r of rule.spec.groups.flatMap((g) => g.rules))
      expect(
        exported.some((m) => r.expr.includes(m)),
        r.alert,
      ).toBe(true);
  });
});

describe('kind full run', () => {
  it('--dry-run prints every command of the run, pinned, and nothing runs', () => {
    const out = execFileSync('bash', [join(K8S, 'kind/run.sh'), '--dry-run', '--base-image', 'local/node-base:20'], {
      encoding: 'utf8',
    });
    const commands = out.trim().split('\n');
    expect(commands[0]).toBe('+ kind create cluster --config k8s/kind/cluster.yaml --wait 120s');
    expect(out).toContain(
      '+ docker build --build-arg BASE=local/node-base:20 -f services/user/Dockerfile -t nova/user-service:dev .',
    );
    expect(out).toContain('+ kind load docker-image nova/chaos-agent:dev --name nova-chaos');
    expect(out).toMatch(
      /\+ helm upgrade --install chaos-mesh chaos-mesh\/chaos-mesh .*--version 2\.6\.7 -f k8s\/overlays\/staging\/chaos-mesh\/helm-values\.yaml/,
    );
    expect(out).toContain('+ kubectl apply -k k8s/overlays/staging/chaos-mesh');
    // Prometheus (the operator's kinds) before the application, then the verdicts by chaos run --env k8s.
    const at = (needle: string): number => commands.findIndex((c) => c.includes(needle));
    expect(at('kube-prometheus-stack --namespace monitoring')).toBeGreaterThan(0);
    expect(at('kube-prometheus-stack')).toBeLessThan(at('kubectl apply -k k8s/base'));
    // The agent's Secrets exist before anything mounts them.
    expect(at('bash k8s/scripts/agent-secrets.sh')).toBeGreaterThan(0);
    expect(at('bash k8s/scripts/agent-secrets.sh')).toBeLessThan(at('kubectl apply -k k8s/base'));
    expect(out).toMatch(/--version 65\.1\.1 /);
    expect(out).toContain(
      '+ kubectl port-forward -n monitoring svc/prometheus-kube-prometheus-prometheus 19090:9090 &',
    );
    expect(commands.at(-4)).toBe(
      '+ npx nx chaos -- run --env k8s --prometheus http://127.0.0.1:19090 --load-targets user=http://127.0.0.1:13001,auth=http://127.0.0.1:13002,messaging=http://127.0.0.1:13003 reports/kind-staging-experiments.yaml',
    );
    expect(at('chaos -- run --env k8s')).toBeLessThan(at('kubectl apply -k k8s/overlays/staging/chaos-mesh'));
    const bad = spawnSync('bash', [join(K8S, 'kind/run.sh'), '--overlay', 'qa', '--dry-run'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--overlay must be staging or production/);
  });

  it('has a Dockerfile per service and for the agent, FROM a build-arg base', () => {
    const fs = { readFileSync };
    for (const f of [
      'services/user/Dockerfile',
      'services/auth/Dockerfile',
      'services/messaging/Dockerfile',
      'chaos-agent/Dockerfile',
    ]) {
      const text = fs.readFileSync(join(ROOT, f), 'utf8');
      expect(text, f).toMatch(/^ARG BASE=/m);
      expect(text, f).toMatch(/^FROM \$\{BASE\}$/m);
    }
  });

  it('ships a GitHub workflow that runs the real commands of this project', () => {
    const fs = { readFileSync };
    const wf = parse(fs.readFileSync(join(ROOT, '.github/workflows/chaos-test.yml'), 'utf8')) as {
      jobs: Record<string, { steps: Array<{ run?: string }> }>;
    };
    const runs = Object.values(wf.jobs)
      .flatMap((j) => j.steps.map((s) => s.run ?? ''))
      .join('\n');
    expect(runs).toContain('npx nx chaos');
    expect(runs).toContain('k8s/kind/run.sh --overlay staging');
  });
});
