import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseResources } from '@nova/chaos-spec';
import { parseAllDocuments, stringify } from 'yaml';
import { startApiServer, type ApiServer } from '@nova/kube-apiserver';
import { chaosMeshCrds, prometheusOperatorStandIns } from './crds.ts';

/*
 * Our manifests against a real kube-apiserver (v1.34.4, built from Go modules by tools/kube-apiserver/build.sh)
 * with etcd, RBAC on: every object `kubectl kustomize` renders is server-side applied and must be accepted,
 * chaos objects are validated by Chaos Mesh's CRD schemas in the server, and what each ServiceAccount may do is
 * asked of the server's RBAC authorizer. No controller-manager runs, so what it would create (namespaces'
 * default ServiceAccounts) and what Helm creates with Chaos Mesh (its namespace) are created here first.
 */

const K8S = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(K8S, '..');
const CORPUS = join(ROOT, 'libs/chaos-spec/test/corpus/valid');

/** The kustomizations we ship, rendered as a user would apply them. */
const KUSTOMIZATIONS = ['base', 'base/chaos-mesh', 'overlays/staging/chaos-mesh', 'overlays/production/chaos-mesh'];

let api: ApiServer;

function kubectl(args: string[], input?: string): string {
  const r = api.kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const docs = (text: string): Array<Record<string, unknown>> =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);

const render = (dir: string): string => execFileSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8' });

beforeAll(async () => {
  api = await startApiServer();
  const crds = [...chaosMeshCrds(), ...prometheusOperatorStandIns()];
  kubectl(
    ['apply', '--server-side', '--field-manager=nova-chaos', '-f', '-'],
    crds.map((c) => stringify(c)).join('---\n'),
  );
  kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...crds.map((c) => `crd/${(c['metadata'] as { name: string }).name}`),
  ]);
  // What a real cluster has before our manifests: Chaos Mesh's namespace (made by its Helm chart) and the
  // default ServiceAccount of each namespace (made by the controller-manager, which does not run here).
  kubectl(['create', 'namespace', 'chaos-mesh']);
  for (const ns of ['default', 'chaos-mesh']) kubectl(['create', 'serviceaccount', 'default', '-n', ns]);
}, 180_000);

afterAll(async () => {
  await api?.stop();
});

describe('manifests on a real API server', () => {
  it.each(KUSTOMIZATIONS)('accepts every object k8s/%s renders (server-side apply, strict fields)', (dir) => {
    const text = render(dir);
    const objects = docs(text);
    expect(objects.length).toBeGreaterThan(0);
    const r = api.kubectl(
      ['apply', '--server-side', '--field-manager=nova-chaos', '--validate=strict', '-f', '-'],
      text,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Each object is there now, as the server stored it.
    const stored = kubectl(['get', '-f', '-', '-o', 'name'], text).trim().split('\n');
    expect(stored).toHaveLength(objects.length);
  });

  it('judges the corpus of real Chaos Mesh manifests as our validator does (server dry run, CRD schemas)', () => {
    const kinds = new Set(chaosMeshCrds().map((c) => (c['spec'] as { names: { kind: string } }).names.kind));
    const disagreements: string[] = [];
    const refusedByBoth: string[] = [];
    let checked = 0;
    for (const file of readdirSync(CORPUS).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(CORPUS, file), 'utf8');
      const objects = docs(text).filter(
        (o) => o['apiVersion'] === 'chaos-mesh.org/v1alpha1' && kinds.has(String(o['kind'])),
      );
      if (objects.length === 0) continue;
      // The corpus names namespaces of other clusters; the schema check does not depend on them.
      const manifest = objects
        .map((o) => stringify({ ...o, metadata: { ...(o['metadata'] as object), namespace: 'default' } }))
        .join('---\n');
      const server = api.kubectl(['create', '--dry-run=server', '--validate=strict', '-f', '-'], manifest);
      const ours = parseResources(text, file).issues;
      checked++;
      if ((server.status === 0) !== (ours.length === 0)) {
        disagreements.push(
          `${file}: server ${server.status === 0 ? 'accepts' : server.stderr.trim()}; ours ${ours.map((i) => i.message).join('; ') || 'accepts'}`,
        );
      } else if (server.status !== 0) refusedByBoth.push(`${file}: ${server.stderr.trim()}`);
    }
    expect(disagreements).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(25);
    // The one manifest of Chaos Mesh's 2.6.7 docs that uses a 2.7 field: both refuse it, for that field.
    expect(refusedByBoth).toEqual([
      expect.stringMatching(
        /^web__version-2-6-7-simulate-network-chaos-on-kubernetes__fence3-0\.yaml: .*unknown field "spec\.rate"/,
      ),
    ]);
  });

  it("refuses a chaos object its CRD schema forbids, naming the field (the server's check is live)", () => {
    const bad = {
      apiVersion: 'chaos-mesh.org/v1alpha1',
      kind: 'PodChaos',
      metadata: { name: 'bad-mode', namespace: 'default' },
      spec: { action: 'pod-kill', mode: 'sometimes', selector: { namespaces: ['default'] } },
    };
    const r = api.kubectl(['apply', '--server-side', '--field-manager=nova-chaos', '-f', '-'], stringify(bad));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.mode: Unsupported value: "sometimes"/);
    const unknown = {
      ...bad,
      metadata: { name: 'bad-field', namespace: 'default' },
      spec: { ...bad.spec, mode: 'one', podd: 1 },
    };
    const u = api.kubectl(
      ['apply', '--server-side', '--field-manager=nova-chaos', '--validate=strict', '-f', '-'],
      stringify(unknown),
    );
    expect(u.status).not.toBe(0);
    expect(u.stderr).toMatch(/\.spec\.podd: field not declared in schema/);
  });
});

/** What a subject may do in a namespace, per `kubectl auth can-i --list`: "resource verb" pairs, minus self-reviews every authenticated user has. */
function rights(subject: string, namespace: string): string[] {
  const out = kubectl(['auth', 'can-i', '--list', `--as=${subject}`, '-n', namespace]);
  const pairs: string[] = [];
  for (const line of out.split('\n').slice(1)) {
    const m = /^(\S+)\s+\[\]\s+\[[^\]]*\]\s+\[([^\]]*)\]/.exec(line);
    if (!m || /^selfsubject\w*reviews\./.test(m[1]!)) continue;
    for (const verb of m[2]!.split(' ').filter(Boolean)) pairs.push(`${m[1]} ${verb}`);
  }
  return pairs.sort();
}

const can = (subject: string, ...args: string[]): boolean =>
  api.kubectl(['auth', 'can-i', ...args, `--as=${subject}`]).stdout.trim() === 'yes';

describe("the agent's credentials, generated per cluster (k8s/scripts/agent-secrets.sh)", () => {
  const script = join(K8S, 'scripts/agent-secrets.sh');
  const run = (...args: string[]): string =>
    execFileSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: api.kubeconfig } });
  const secret = (name: string): Record<string, string> => {
    const data = JSON.parse(kubectl(['get', 'secret', name, '-o', 'json']))['data'] as Record<string, string>;
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  };

  it('makes two distinct random tokens and a TLS certificate for chaos-agent signed by the CA it ships', () => {
    run();
    const controller = secret('chaos-agent-controller')['token']!;
    const services = secret('chaos-agent-services')['token']!;
    expect(controller).toMatch(/^[0-9a-f]{64}$/);
    expect(services).toMatch(/^[0-9a-f]{64}$/);
    expect(services).not.toBe(controller);
    const tls = secret('chaos-agent-tls');
    const cert = new X509Certificate(tls['tls.crt']!);
    expect(cert.subjectAltName).toBe('DNS:chaos-agent');
    expect(cert.verify(new X509Certificate(tls['ca.crt']!).publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(tls['tls.key']!))).toBe(true);
  });

  it('keeps them on a rerun (the running agent keeps working) and replaces them with --rotate', () => {
    const before = secret('chaos-agent-controller')['token'];
    expect(run()).toMatch(/secret\/chaos-agent-controller kept/);
    expect(secret('chaos-agent-controller')['token']).toBe(before);
    run('--rotate');
    expect(secret('chaos-agent-controller')['token']).not.toBe(before);
  });
});

describe('least privilege, as the RBAC authorizer evaluates it', () => {
  const sa = (name: string, ns = 'default'): string => `system:serviceaccount:${ns}:${name}`;
  const CHAOS = [
    'networkchaos',
    'podchaos',
    'stresschaos',
    'iochaos',
    'httpchaos',
    'timechaos',
    'dnschaos',
    'workflows',
    'workflownodes',
    'schedules',
  ];

  it('the chaos runner manages chaos objects in its namespace and reads pods there, and nothing more', () => {
    const expected = [
      ...CHAOS.flatMap((r) =>
        ['create', 'delete', 'get', 'list', 'patch', 'watch'].map((v) => `${r}.chaos-mesh.org ${v}`),
      ),
      ...['get', 'list', 'watch'].map((v) => `pods ${v}`),
    ].sort();
    expect(rights(sa('chaos-runner'), 'default')).toEqual(expected);
    expect(rights(sa('chaos-runner'), 'kube-system')).toEqual([]);
    expect(can(sa('chaos-runner'), 'create', 'podchaos.chaos-mesh.org', '-n', 'default')).toBe(true);
    expect(can(sa('chaos-runner'), 'create', 'podchaos.chaos-mesh.org', '-n', 'kube-system')).toBe(false);
    expect(can(sa('chaos-runner'), 'create', 'podchaos.chaos-mesh.org', '--all-namespaces')).toBe(false);
    expect(can(sa('chaos-runner'), 'get', 'secrets', '-n', 'default')).toBe(false);
    expect(can(sa('chaos-runner'), 'delete', 'pods', '-n', 'default')).toBe(false);
    expect(can(sa('chaos-runner'), 'update', 'roles.rbac.authorization.k8s.io', '-n', 'default')).toBe(false);
  });

  it('Chaos Mesh dashboard users: the viewer looks, the manager also creates, pauses and deletes; neither more', () => {
    const look = ['get', 'list', 'watch'];
    const seeing = [...['pods', 'events'].flatMap((r) => look.map((v) => `${r} ${v}`))];
    expect(rights(sa('chaos-dashboard-viewer'), 'default')).toEqual(
      [...CHAOS.flatMap((r) => look.map((v) => `${r}.chaos-mesh.org ${v}`)), ...seeing].sort(),
    );
    expect(rights(sa('chaos-dashboard-manager'), 'default')).toEqual(
      [
        ...CHAOS.flatMap((r) => [...look, 'create', 'patch', 'delete'].map((v) => `${r}.chaos-mesh.org ${v}`)),
        ...seeing,
      ].sort(),
    );
    for (const who of ['chaos-dashboard-viewer', 'chaos-dashboard-manager']) {
      expect(rights(sa(who), 'kube-system')).toEqual([]);
      expect(can(sa(who), 'get', 'secrets', '-n', 'default')).toBe(false);
      expect(can(sa(who), 'create', 'pods/exec', '-n', 'default')).toBe(false);
    }
    expect(can(sa('chaos-dashboard-viewer'), 'patch', 'podchaos.chaos-mesh.org', '-n', 'default')).toBe(false);
  });

  it('the services (default ServiceAccount) may do nothing', () => {
    expect(rights(sa('default'), 'default')).toEqual([]);
    expect(can(sa('default'), 'list', 'pods', '-n', 'default')).toBe(false);
    expect(can(sa('default'), 'get', 'secrets', '-n', 'default')).toBe(false);
  });

  it('the chaos agent may only read pods, in any namespace (to check what registering services claim)', () => {
    for (const ns of ['default', 'kube-system'])
      expect(rights(sa('chaos-agent'), ns)).toEqual(['pods get', 'pods list']);
    expect(can(sa('chaos-agent'), 'list', 'pods', '--all-namespaces')).toBe(true);
    for (const verb of ['create', 'delete', 'patch', 'update', 'watch'])
      expect(can(sa('chaos-agent'), verb, 'pods', '-n', 'default')).toBe(false);
    expect(can(sa('chaos-agent'), 'create', 'pods/exec', '-n', 'default')).toBe(false);
    expect(can(sa('chaos-agent'), 'get', 'secrets', '-n', 'default')).toBe(false);
    expect(can(sa('chaos-agent'), 'get', 'nodes')).toBe(false);
  });

  it('the services and PostgreSQL do not mount a ServiceAccount token (nothing to steal); only the agent does', () => {
    const workloads = docs(render('base')).filter((o) =>
      ['Deployment', 'StatefulSet', 'DaemonSet'].includes(String(o['kind'])),
    );
    expect(workloads.length).toBe(5);
    const mounts = Object.fromEntries(
      workloads.map((w) => [
        (w['metadata'] as { name: string }).name,
        (w['spec'] as { template: { spec: { automountServiceAccountToken?: boolean } } }).template.spec
          .automountServiceAccountToken,
      ]),
    );
    expect(mounts).toEqual({
      'user-service': false,
      'auth-service': false,
      'messaging-service': false,
      postgres: false,
      'chaos-agent': true,
    });
  });
});

it('kubectl on this machine can talk to the server (the client the tests use)', () => {
  expect(spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status).toBe(0);
  expect(kubectl(['get', '--raw', '/version'])).toMatch(/"gitVersion": "v1\.34\.4"/);
});
