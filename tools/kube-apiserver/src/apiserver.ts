import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

/** A real kube-apiserver with its etcd, on loopback, for the tests. */
export interface ApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** A kubeconfig for the static admin (group `system:masters`). */
  readonly kubeconfig: string;
  /** The admin's bearer token. */
  readonly token: string;
  /** Runs kubectl against this server; returns its exit status and output. */
  kubectl(args: string[], input?: string): { status: number; stdout: string; stderr: string };
  /** Stops both processes by PID and removes their state. */
  stop(): Promise<void>;
}

const INSTALL =
  'build kube-apiserver v1.34.4 and etcd 3.6.4 from Go modules with `bash tools/kube-apiserver/build.sh` (.ci/run does; ~8 min cold)';

/** Fails with how to get them when kube-apiserver, etcd or kubectl is missing. */
export function requireApiServerTools(): void {
  for (const tool of ['kube-apiserver', 'etcd', 'kubectl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(
        `${tool} is required by the API-server tests: ${tool === 'kubectl' ? 'apt-get install kubectl (or any kubectl ≥ 1.32)' : INSTALL}`,
      );
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Ends a process we started, by its PID: SIGTERM, then SIGKILL after `graceMs`. */
async function end(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitFor(what: string, probe: () => Promise<boolean>, child: ChildProcess, log: string, limitMs: number) {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited (${child.exitCode}): ${readFileSync(log, 'utf8').slice(-2_000)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${limitMs / 1000} s: ${readFileSync(log, 'utf8').slice(-2_000)}`);
}

/** etcd on loopback (`etcdPort` for clients, `peerPort` for its one-member cluster), healthy. */
async function startEtcd(state: string, etcdPort: number, peerPort: number): Promise<ChildProcess> {
  const etcdLog = join(state, 'etcd.log');
  const etcd = spawn(
    'etcd',
    [
      '--name=nova',
      `--data-dir=${join(state, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=nova=http://127.0.0.1:${peerPort}`,
      '--listen-metrics-urls=',
    ],
    { stdio: ['ignore', 'ignore', openSync(etcdLog, 'a')] },
  );
  await waitFor(
    'etcd',
    async () => (await request(`http://127.0.0.1:${etcdPort}/health`)).statusCode === 200,
    etcd,
    etcdLog,
    20_000,
  );
  return etcd;
}

/** kube-apiserver on `apiPort` over that etcd (RBAC, the static admin `token`, no anonymous access), ready. */
async function startKubeApiServer(
  state: string,
  etcdPort: number,
  apiPort: number,
  token: string,
): Promise<ChildProcess> {
  const apiLog = join(state, 'apiserver.log');
  const api = spawn(
    'kube-apiserver',
    [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(state, 'certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(state, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(state, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(state, 'tokens.csv')}`,
      '--anonymous-auth=false',
      // A loopback advertise address is not a valid endpoint of the `kubernetes` Service.
      '--endpoint-reconciler-type=none',
    ],
    { stdio: ['ignore', 'ignore', openSync(apiLog, 'a')] },
  );
  const url = `https://127.0.0.1:${apiPort}`;
  // The serving certificate is the one the server made itself in cert-dir; the kubeconfig names it.
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  await waitFor(
    'kube-apiserver',
    async () => {
      const res = await request(`${url}/readyz`, {
        headers: { authorization: `Bearer ${token}` },
        dispatcher: insecure,
      });
      await res.body.dump();
      return res.statusCode === 200;
    },
    api,
    apiLog,
    120_000,
  );
  await insecure.close();
  return api;
}

/** A kubeconfig for the admin token, trusting the certificate the server made itself; its path. */
function writeKubeconfig(state: string, url: string, token: string): string {
  const kubeconfig = join(state, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: nova\n  cluster:\n    server: ${url}\n    certificate-authority: ${join(state, 'certs', 'apiserver.crt')}`,
      'contexts:',
      '- name: nova\n  context: {cluster: nova, user: admin}',
      'current-context: nova',
      'users:',
      `- name: admin\n  user: {token: ${token}}`,
      '',
    ].join('\n'),
  );
  return kubeconfig;
}

/**
 * Starts etcd and kube-apiserver on free loopback ports (RBAC on, anonymous access off, a static admin token,
 * a self-signed serving certificate); resolves once `/readyz` answers (~3 s). Nothing else of a cluster runs:
 * no controller-manager (no default ServiceAccounts, no garbage collection), no scheduler, no kubelet.
 */
export async function startApiServer(): Promise<ApiServer> {
  requireApiServerTools();
  const state = mkdtempSync(join(tmpdir(), 'nova-kapi-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(state, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(state, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const token = randomBytes(32).toString('hex');
  writeFileSync(join(state, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children.reverse()) await end(c);
    rmSync(state, { recursive: true, force: true });
  };
  try {
    children.push(await startEtcd(state, etcdPort, peerPort));
    const url = `https://127.0.0.1:${apiPort}`;
    children.push(await startKubeApiServer(state, etcdPort, apiPort, token));
    const kubeconfig = writeKubeconfig(state, url, token);
    return {
      url,
      kubeconfig,
      token,
      kubectl(args, input) {
        const r = spawnSync('kubectl', args, {
          encoding: 'utf8',
          input,
          env: { ...process.env, KUBECONFIG: kubeconfig },
          timeout: 60_000,
        });
        return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
