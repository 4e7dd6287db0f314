import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, createAgentClient, grpc, type Hello } from '@nova/proto';
import { startApiServer, type ApiServer } from '@nova/kube-apiserver';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubePodDirectory, podMismatch, type PodFacts } from '../src/pod-directory.ts';
import { startAgent } from '../src/server.ts';
import { TOKEN } from './helpers.ts';

// In Kubernetes a service's namespace, name and labels are the API server's word, not the service's: the agent
// finds the pod its connection comes from (its cgroup names the pod's UID; pod-identity.test.ts) and checks the
// Hello against what a real kube-apiserver lists on the agent's node, with the agent's least-privilege
// ServiceAccount (k8s/base/rbac.yaml: get and list pods). Pods here have a node but no kubelet runs: the API
// server lists them all the same. Which process holds the connection is given by the test (it has no pod).

const USER: PodFacts = {
  uid: 'u',
  namespace: 'default',
  name: 'user-service-7d9f-abcde',
  labels: { app: 'user-service', tier: 'backend', 'chaos.mesh/safe': 'true' },
};
const hello = (over: Partial<Hello> = {}): Hello => ({
  name: 'user-service',
  namespace: 'default',
  labels: { app: 'user-service', tier: 'backend' },
  pid: process.pid,
  ports: [3001],
  ...over,
});

describe('podMismatch: a Hello against its pod', () => {
  it('accepts what the pod says, and a subset of its labels', () => {
    expect(podMismatch(hello(), USER)).toBeUndefined();
    expect(podMismatch(hello({ labels: {} }), USER)).toBeUndefined();
  });

  it.each([
    [{ namespace: 'kube-system' }, /claims namespace "kube-system", but its connection comes from pod default\/user-/],
    [
      { name: 'auth-service' },
      /claims name "auth-service", but pod default\/user-service-7d9f-abcde is "user-service"/,
    ],
    [{ labels: { tier: 'frontend' } }, /claims label tier=frontend, but .* has tier=backend/],
    [{ labels: { 'chaos.mesh/safe': 'true', canary: 'yes' } }, /claims label canary=yes, but .* has canary=\(none\)/],
  ])('refuses %j', (over, why) => {
    expect(podMismatch(hello(over), USER)).toMatch(why);
  });

  it('checks the name against app.kubernetes.io/name first, and refuses a pod with no name label', () => {
    const named = { ...USER, labels: { 'app.kubernetes.io/name': 'users', app: 'user-service' } };
    expect(podMismatch(hello({ labels: {} }), named)).toMatch(/is "users"/);
    expect(podMismatch(hello({ labels: {} }), { ...USER, labels: {} })).toMatch(/has no app.kubernetes.io\/name/);
  });
});

let api: ApiServer;
/** A kubeconfig with the agent's ServiceAccount token (pods: get, list), as the DaemonSet's pod would have. */
let agentKubeconfig: string;
const uids: Record<string, string> = {};

function kubectl(args: string[], input?: string): string {
  const r = api.kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function pod(namespace: string, name: string, node: string, labels: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels },
    spec: {
      nodeName: node,
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'nova/user-service:dev' }],
    },
  });
}

beforeAll(async () => {
  api = await startApiServer();
  kubectl(['create', 'namespace', 'shop']);
  for (const ns of ['default', 'shop']) kubectl(['create', 'serviceaccount', 'default', '-n', ns]);
  kubectl(
    ['apply', '--server-side', '-f', '-'],
    readFileSync(new URL('../../k8s/base/rbac.yaml', import.meta.url), 'utf8'),
  );
  const pods: Array<[string, string, string, Record<string, string>]> = [
    ['default', 'user-a', 'node-a', USER.labels],
    ['shop', 'cart-a', 'node-a', { app: 'cart', 'chaos.mesh/safe': 'true' }],
    ['default', 'user-b', 'node-b', USER.labels],
  ];
  for (const [ns, name, node, labels] of pods) {
    kubectl(['create', '-f', '-'], pod(ns, name, node, labels));
    uids[name] = kubectl(['get', 'pod', name, '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
  }
  const token = kubectl(['create', 'token', 'chaos-agent', '-n', 'default']).trim();
  const config = JSON.parse(kubectl(['config', 'view', '--raw', '--flatten', '-o', 'json'])) as {
    users: Array<{ user: Record<string, unknown> }>;
  };
  for (const u of config.users) u.user = { token };
  agentKubeconfig = join(mkdtempSync(join(tmpdir(), 'nova-agent-kube-')), 'kubeconfig');
  writeFileSync(agentKubeconfig, JSON.stringify(config));
}, 180_000);

afterAll(async () => {
  await api?.stop();
}, 60_000);

describe('KubePodDirectory against a real API server, as the agent', () => {
  it("finds this node's pods by UID in every namespace, and not another node's", async () => {
    const pods = new KubePodDirectory({ nodeName: 'node-a', kubeconfig: agentKubeconfig, refreshMs: 0 });
    expect(await pods.pod(uids['user-a']!)).toEqual({ ...USER, uid: uids['user-a'], name: 'user-a' });
    expect(await pods.pod(uids['cart-a']!)).toMatchObject({ namespace: 'shop', name: 'cart-a' });
    expect(await pods.pod(uids['user-b']!)).toBeUndefined();
    expect(await pods.pod('00000000-0000-0000-0000-000000000000')).toBeUndefined();
  });

  it('sees a pod created after its first listing, but lists at most once per refresh period', async () => {
    const pods = new KubePodDirectory({ nodeName: 'node-a', kubeconfig: agentKubeconfig, refreshMs: 60_000 });
    expect(await pods.pod('none')).toBeUndefined();
    kubectl(['create', '-f', '-'], pod('default', 'late', 'node-a', USER.labels));
    const uid = kubectl(['get', 'pod', 'late', '-o', 'jsonpath={.metadata.uid}']);
    // Within the period a miss answers from the last listing: a caller cannot make the agent list at will.
    expect(await pods.pod(uid)).toBeUndefined();
    const fresh = new KubePodDirectory({ nodeName: 'node-a', kubeconfig: agentKubeconfig, refreshMs: 0 });
    expect(await fresh.pod(uid)).toMatchObject({ name: 'late' });
  });

  it("sees a known pod's labels change once its period is over (a pod that opted out is not taken on old labels)", async () => {
    const pods = new KubePodDirectory({ nodeName: 'node-a', kubeconfig: agentKubeconfig, refreshMs: 0 });
    expect((await pods.pod(uids['user-a']!))?.labels).toMatchObject({ 'chaos.mesh/safe': 'true' });
    kubectl(['label', 'pod', 'user-a', 'chaos.mesh/safe-']);
    try {
      expect((await pods.pod(uids['user-a']!))?.labels).not.toHaveProperty('chaos.mesh/safe');
    } finally {
      kubectl(['label', 'pod', 'user-a', 'chaos.mesh/safe=true']);
    }
  });

  it('fails (so the agent refuses) when its credential may not list pods', async () => {
    const config = JSON.parse(readFileSync(agentKubeconfig, 'utf8')) as { users: Array<{ user: object }> };
    for (const u of config.users) u.user = { token: kubectl(['create', 'token', 'default', '-n', 'default']).trim() };
    const file = join(mkdtempSync(join(tmpdir(), 'nova-default-kube-')), 'kubeconfig');
    writeFileSync(file, JSON.stringify(config));
    const pods = new KubePodDirectory({ nodeName: 'node-a', kubeconfig: file, refreshMs: 0 });
    await expect(pods.pod(uids['user-a']!)).rejects.toThrow(/403|forbidden/i);
  });
});

describe('an agent with --peer-identity=pod checks a Hello against the API server', () => {
  /** Registers with `claimed`, the connection said to come from pod `uid`; answers the agent's verdict. */
  async function register(uid: string, claimed: Hello, kubeconfig = agentKubeconfig): Promise<string> {
    const auditFile = join(mkdtempSync(join(tmpdir(), 'nova-pod-audit-')), 'audit.jsonl');
    const agent = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      peerIdentity: 'pod',
      pods: new KubePodDirectory({ nodeName: 'node-a', kubeconfig, refreshMs: 0 }),
      findPeer: async () => ({
        pid: process.pid,
        nsPid: process.pid,
        cgroup: `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-0a.scope\n`,
      }),
      auditFile,
      logger: pino({ level: 'silent' }),
    });
    const client = createAgentClient(agent.address);
    try {
      const call = client.register(bearer(TOKEN));
      const verdict = new Promise<string>((resolve) => {
        call.on('data', (m: { welcome?: object }) => m.welcome && resolve('registered'));
        call.on('error', (e: grpc.ServiceError) => resolve(`${grpc.status[e.code]}: ${e.details}`));
      });
      call.write({ hello: claimed });
      const answer = await verdict;
      if (answer === 'registered') expect(agent.targets.list().map((t) => t.namespace)).toEqual([claimed.namespace]);
      else {
        expect(agent.targets.list()).toEqual([]);
        await agent.audit.flush();
        expect(readFileSync(auditFile, 'utf8')).toMatch(/"action":"register".*"result":"denied"/);
      }
      call.cancel();
      return answer;
    } finally {
      client.close();
      await agent.close();
    }
  }

  it('registers a service that says what its pod is', async () => {
    expect(await register(uids['user-a']!, hello())).toBe('registered');
    expect(await register(uids['cart-a']!, hello({ name: 'cart', namespace: 'shop', labels: {} }))).toBe('registered');
  });

  it('refuses, and audits, a namespace, a name or a label its pod does not have', async () => {
    // The namespace allowlist bypass of the issue: a pod in shop claiming default.
    expect(await register(uids['cart-a']!, hello({ name: 'cart', labels: {} }))).toMatch(
      /^PERMISSION_DENIED: Hello refused: it claims namespace "default", but its connection comes from pod shop\/cart-a/,
    );
    // Target poisoning: joining user-service's blast radius from another pod.
    expect(await register(uids['cart-a']!, hello({ namespace: 'shop' }))).toMatch(
      /claims name "user-service", but pod shop\/cart-a is "cart"/,
    );
    expect(await register(uids['user-a']!, hello({ labels: { tier: 'frontend' } }))).toMatch(
      /claims label tier=frontend/,
    );
  });

  it('refuses a pod of another node, and fails closed when the API server cannot be asked', async () => {
    expect(await register(uids['user-b']!, hello())).toMatch(
      /^PERMISSION_DENIED: .*the API server lists no pod .* on this node/,
    );
    const denied = JSON.parse(readFileSync(agentKubeconfig, 'utf8')) as { users: Array<{ user: object }> };
    for (const u of denied.users) u.user = { token: 'not-a-token' };
    const file = join(mkdtempSync(join(tmpdir(), 'nova-bad-kube-')), 'kubeconfig');
    writeFileSync(file, JSON.stringify(denied));
    expect(await register(uids['user-a']!, hello(), file)).toMatch(
      /^UNAVAILABLE: .*cannot ask the API server about pod/,
    );
  });
});
