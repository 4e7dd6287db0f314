import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, OwnedProcess, waitUntil } from '@nova/process-kit';
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

/** Ends a process we started, by its PID: SIGTERM, then SIGKILL after `graceMs`. */
/** A server process of ours: its output goes to `log` (and its last lines into errors). */
function serverProcess(name: string, command: string, args: string[], log: string): OwnedProcess {
  const out = createWriteStream(log, { flags: 'a' });
  return new OwnedProcess({
    name,
    command,
    args,
    onLine: (line) => out.write(`${line}\n`),
    onExit: () => out.end(),
  }).start();
}

/** etcd on loopback (`etcdPort` for clients, `peerPort` for its one-member cluster), in `children`, healthy. */
async function startEtcd(state: string, etcdPort: number, peerPort: number, children: OwnedProcess[]): Promise<void> {
  const etcd = serverProcess(
    'etcd',
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
    join(state, 'etcd.log'),
  );
  // Owned from the moment it runs: a failed start is stopped with the rest.
  children.push(etcd);
  await waitUntil(etcd, async () => (await request(`http://127.0.0.1:${etcdPort}/health`)).statusCode === 200, 20_000);
}

/** kube-apiserver on `apiPort` over that etcd (RBAC, the static admin `token`, no anonymous access), ready. */
async function startKubeApiServer(
  state: string,
  etcdPort: number,
  apiPort: number,
  token: string,
  children: OwnedProcess[],
): Promise<void> {
  const api = serverProcess(
    'kube-apiserver',
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
    join(state, 'apiserver.log'),
  );
  children.push(api);
  const url = `https://127.0.0.1:${apiPort}`;
  // The serving certificate is the one the server made itself in cert-dir; the kubeconfig names it.
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  await waitUntil(
    api,
    async () => {
      const res = await request(`${url}/readyz`, {
        headers: { authorization: `Bearer ${token}` },
        dispatcher: insecure,
      });
      await res.body.dump();
      return res.statusCode === 200;
    },
    120_000,
  );
  await insecure.close();
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
  const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(state, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(state, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const token = randomBytes(32).toString('hex');
  writeFileSync(join(state, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
  const children: OwnedProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children.reverse()) await c.stop('SIGTERM', 5_000);
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await startEtcd(state, etcdPort, peerPort, children);
    const url = `https://127.0.0.1:${apiPort}`;
    await startKubeApiServer(state, etcdPort, apiPort, token, children);
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
