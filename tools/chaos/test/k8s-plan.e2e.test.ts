import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseResources, seededRandom, selectTargets } from '@nova/chaos-spec';
import { startApiServer, type ApiServer } from '@nova/kube-apiserver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { coreClient, listPods, planOnCluster } from '../src/k8s/cluster-plan.ts';
import { policyFromEnv } from '../src/plan/policy.ts';

/*
 * `chaos plan --env k8s` against a real kube-apiserver (tools/kube-apiserver): pods are created as objects
 * (nothing schedules them: they stay Pending, which is all selection needs), the API server evaluates the
 * selectors, and the chaos runner's own RBAC decides what it may list.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
let api: ApiServer;
let runnerKubeconfig: string;

function kubectl(args: string[], input?: string): string {
  const r = api.kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const pod = (
  namespace: string,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string> = {},
) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels, annotations },
  spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'nova/app:dev' }] },
});
const safe = (app: string) => ({ app, tier: 'backend', 'chaos.mesh/safe': 'true' });

beforeAll(async () => {
  api = await startApiServer();
  kubectl(['create', 'namespace', 'other']);
  for (const ns of ['default', 'other']) kubectl(['create', 'serviceaccount', 'default', '-n', ns]);
  const pods = [
    pod('default', 'user-service-0', safe('user-service')),
    pod('default', 'user-service-1', safe('user-service')),
    pod('default', 'auth-service-0', safe('auth-service')),
    pod('default', 'messaging-service-0', safe('messaging-service'), { 'example.com/owner': 'chat' }),
    pod('default', 'auth-unsafe', { app: 'auth-service', tier: 'backend' }),
    pod('other', 'auth-service-0', safe('auth-service')),
  ];
  kubectl(['apply', '--server-side', '-f', '-'], pods.map((p) => stringify(p)).join('---\n'));
  // The chaos runner's ServiceAccount and Role as shipped, and a kubeconfig holding a token of that account.
  kubectl(['apply', '--server-side', '-n', 'default', '-f', join(ROOT, 'k8s/base/rbac.yaml')]);
  const token = kubectl(['create', 'token', 'chaos-runner', '-n', 'default']).trim();
  runnerKubeconfig = join(mkdtempSync(join(tmpdir(), 'nova-runner-')), 'kubeconfig');
  const admin = readFileSync(api.kubeconfig, 'utf8');
  writeFileSync(runnerKubeconfig, admin.replace(/token: [0-9a-f]+/, `token: ${token}`));
}, 180_000);

afterAll(async () => {
  await api?.stop();
});

const experiment = (name: string, spec: Record<string, unknown>) =>
  parseResources(
    stringify({
      apiVersion: 'chaos-mesh.org/v1alpha1',
      kind: 'PodChaos',
      metadata: { name, namespace: 'default' },
      spec: { action: 'pod-kill', ...spec },
    }),
    `${name}.yaml`,
  ).resources;

describe('chaos plan on a real API server', () => {
  it('lists the pods the server matches, and the mode picks among them', async () => {
    const { core } = coreClient(runnerKubeconfig);
    const resources = [
      ...experiment('auth', {
        mode: 'one',
        selector: { namespaces: ['default'], labelSelectors: safe('auth-service') },
      }),
      ...experiment('users', {
        mode: 'fixed',
        value: '1',
        selector: {
          expressionSelectors: [{ key: 'app', operator: 'In', values: ['user-service', 'messaging-service'] }],
        },
      }),
      ...experiment('owned', { mode: 'all', selector: { annotationSelectors: { 'example.com/owner': 'chat' } } }),
    ];
    const policy = { ...policyFromEnv({}), allowedNamespaces: ['default'] };
    const [auth, users, owned] = await planOnCluster(resources, core, policy, seededRandom(1));
    // The unsafe auth pod and the one in another namespace are not matched.
    expect(auth!.matching.map((p) => `${p.namespace}/${p.name}`)).toEqual(['default/auth-service-0']);
    expect(auth!.selected).toHaveLength(1);
    expect(auth!.matching[0]!.phase).toBe('Pending');
    expect(users!.query!.labelSelector).toBe('app in (user-service,messaging-service)');
    expect(users!.matching.map((p) => p.name)).toEqual(['messaging-service-0', 'user-service-0', 'user-service-1']);
    expect(users!.selected).toHaveLength(1);
    expect(owned!.matching.map((p) => p.name)).toEqual(['messaging-service-0']);
    // The server's selection is the one the local environments compute from the same labels.
    const everyPod = await listPods(core, {
      namespaces: ['default'],
      labelSelector: '',
      fieldSelector: '',
      annotations: {},
    });
    const expression = { key: 'app', operator: 'In' as const, values: ['user-service', 'messaging-service'] };
    const local = selectTargets(
      { mode: 'all', selector: { expressionSelectors: [expression] } },
      everyPod,
      seededRandom(1),
    );
    expect(local.selected.map((p) => p.name)).toEqual(users!.matching.map((p) => p.name));
  });

  it('does not list namespaces outside the allowlist, and the runner’s RBAC refuses them anyway', async () => {
    const { core } = coreClient(runnerKubeconfig);
    const resources = experiment('elsewhere', {
      mode: 'all',
      selector: { namespaces: ['other'], labelSelectors: { app: 'auth-service' } },
    });
    const [allowlisted] = await planOnCluster(
      resources,
      core,
      { ...policyFromEnv({}), allowedNamespaces: ['default'] },
      seededRandom(1),
    );
    expect(allowlisted!.objections).toEqual([
      'selector.namespaces has other, outside ALLOWED_NAMESPACES (default): not listed',
    ]);
    expect(allowlisted!.matching).toEqual([]);
    const [open] = await planOnCluster(
      resources,
      core,
      { ...policyFromEnv({}), allowedNamespaces: undefined },
      seededRandom(1),
    );
    expect(open!.error).toMatch(
      /^the API server refused \(RBAC\): pods is forbidden: User "system:serviceaccount:default:chaos-runner" cannot list resource "pods" .* in the namespace "other"/,
    );
  });

  it('chaos plan --env k8s prints the blast radius of the default suite on the cluster', () => {
    const r = spawnSync(
      process.execPath,
      ['--conditions=@nova/source', '--import', 'tsx', CLI, 'plan', '--env', 'k8s', join(ROOT, 'k8s/base/chaos-mesh')],
      {
        encoding: 'utf8',
        env: { ...process.env, KUBECONFIG: runnerKubeconfig, ALLOWED_NAMESPACES: 'default', CHAOS_ACTOR: 'e2e-test' },
        timeout: 60_000,
      },
    );
    expect(r.stdout, r.stderr).toMatch(
      /^Blast radius on the cluster https:\/\/127\.0\.0\.1:\d+ \(context nova\), namespaces allowed: default:/,
    );
    expect(r.stdout).toContain(
      'StressChaos/cpu-stress-auth: default -l app=auth-service,chaos.mesh/safe=true → 1 pod(s): default/auth-service-0 (Pending); mode picks 1',
    );
    expect(r.stdout).toContain(
      'NetworkChaos/partition-messaging-user (target): default -l app=user-service → 2 pod(s): default/user-service-0 (Pending), default/user-service-1 (Pending); mode picks 2',
    );
    expect(r.status).toBe(0);
  });
});
