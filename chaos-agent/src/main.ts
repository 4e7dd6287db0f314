import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_HEARTBEAT_GRACE_MS } from '@nova/proto';
import { onSupervisorGone } from '@nova/process-kit';
import { pino } from 'pino';
import { KubePodDirectory } from './pod-directory.ts';
import { startAgent } from './server.ts';

const HELP = `chaos-agent: the per-node Nova Chaos daemon (gRPC, package nova.chaos.v1)

Usage: chaos-agent --listen 127.0.0.1:7070 --token-file <file> [options]

  --listen <host:port>          gRPC address (default 127.0.0.1:7070; port 0 = any free port)
  --token-file <file>           file holding the controllers' bearer token (required)
  --service-token-file <file>   file holding the services' token, which may only Register; without it the
                                controllers' token serves both roles
  --metrics-listen <host:port>  serve Prometheus /metrics here (e.g. 127.0.0.1:7071)
  --tls-cert <file> --tls-key <file>   serve TLS
  --tls-ca <file>               also require client certificates signed by this CA (mTLS)
  --allowed-namespaces <a,b>    only targets in these namespaces may be faulted
  --audit-log <file>            append every mutating call as a JSON line
  --state-dir <dir>             journal of stopped processes (resumed by the next run)
  --heartbeat-grace-ms <n>      services revert their faults after this long without us (default 2000)
  --trusted-ancestor <pid>      only processes descending from this one may register (the environment that
                                starts the services; checked where the agent can see the caller's process)
  --peer-identity <process|pod> where a service's process is found from its connection: process (default) in
                                the agent's own network namespace; pod (Kubernetes, with hostPID) in any
                                namespace of the node, and it must run in a pod (its cgroup names one) that the
                                API server lists on this node with the namespace, name and labels it claims
  --node-name <name>            with --peer-identity=pod: this node (default $NODE_NAME)
  --kubeconfig <file>           with --peer-identity=pod: how to reach the API server (default: the pod's
                                in-cluster ServiceAccount, which may list pods)
  --require-identity            services must present identity tokens (minted by their environment with the
                                services' token as key) and register exactly as the identity bound in them
  --docker                      enable the Docker and kernel drivers (root + Docker engine): container-kill,
                                container-pause, container-stress, kernel-partition/-loss/-duplicate/-bandwidth,
                                kernel-netem where the kernel has netem; only containers labelled
                                dev.nova.chaos/target=true are touched, and leftovers of a crashed run are
                                removed at start
  --help                        this text

Logs are JSON lines on stdout (LOG_LEVEL=debug|info|warn). Ctrl-C or SIGTERM recovers every fault, then exits.`;

function die(message: string): never {
  process.stderr.write(`chaos-agent: ${message}\nRun chaos-agent --help for usage.\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      listen: { type: 'string', default: '127.0.0.1:7070' },
      'token-file': { type: 'string' },
      'service-token-file': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'allowed-namespaces': { type: 'string' },
      'audit-log': { type: 'string' },
      'state-dir': { type: 'string' },
      'heartbeat-grace-ms': { type: 'string', default: String(DEFAULT_HEARTBEAT_GRACE_MS) },
      'trusted-ancestor': { type: 'string' },
      'require-identity': { type: 'boolean', default: false },
      'peer-identity': { type: 'string', default: 'process' },
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      docker: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  die((error as Error).message);
}
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
if (!values['token-file']) die('--token-file is required: the API refuses anonymous calls');
const read = (flag: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (error) {
    die(`${flag} ${path}: ${(error as Error).message}`);
  }
};
const token = read('--token-file', values['token-file']).toString().trim();
if (token.length < 16) die(`--token-file ${values['token-file']}: the token must be at least 16 characters`);
const serviceToken = values['service-token-file']
  ? read('--service-token-file', values['service-token-file']).toString().trim()
  : undefined;
if (serviceToken !== undefined && serviceToken.length < 16)
  die(`--service-token-file ${values['service-token-file']}: the token must be at least 16 characters`);
if (serviceToken === token)
  die("--service-token-file: the services' token must differ from the controllers' (a service may only register)");
if (!/^[^:\s]+:\d+$/.test(values.listen) && !/^\[.+\]:\d+$/.test(values.listen))
  die(`--listen ${values.listen}: expected host:port`);
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) die('--tls-cert and --tls-key go together');
const grace = Number(values['heartbeat-grace-ms']);
if (!Number.isInteger(grace) || grace < 200)
  die(`--heartbeat-grace-ms ${values['heartbeat-grace-ms']}: expected an integer >= 200`);

const peerIdentity = values['peer-identity'];
if (peerIdentity !== 'process' && peerIdentity !== 'pod')
  die(`--peer-identity ${peerIdentity}: expected process or pod`);
let pods: KubePodDirectory | undefined;
if (peerIdentity === 'pod') {
  const nodeName = values['node-name'] ?? process.env['NODE_NAME'];
  if (!nodeName)
    die("--peer-identity=pod needs this node's name: --node-name, or NODE_NAME from the downward API (spec.nodeName)");
  try {
    pods = new KubePodDirectory({ nodeName, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) });
  } catch (error) {
    die(
      `--peer-identity=pod: cannot reach the API server (${(error as Error).message}); give --kubeconfig, or run in a pod with a ServiceAccount token`,
    );
  }
}

const ancestor = values['trusted-ancestor'] === undefined ? undefined : Number(values['trusted-ancestor']);
if (ancestor !== undefined && !(Number.isInteger(ancestor) && ancestor > 1))
  die(`--trusted-ancestor ${values['trusted-ancestor']}: expected a pid`);

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'info', base: { service: 'chaos-agent', pid: process.pid } });
const agent = await startAgent({
  listen: values.listen,
  token,
  ...(serviceToken !== undefined ? { serviceToken } : {}),
  tls: values['tls-cert']
    ? {
        cert: read('--tls-cert', values['tls-cert']),
        key: read('--tls-key', values['tls-key']!),
        ...(values['tls-ca'] ? { ca: read('--tls-ca', values['tls-ca']) } : {}),
      }
    : undefined,
  metricsListen: values['metrics-listen'],
  allowedNamespaces: values['allowed-namespaces']
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  auditFile: values['audit-log'],
  stateDir: values['state-dir'],
  heartbeatGraceMs: grace,
  ...(ancestor !== undefined ? { trustedAncestor: ancestor } : {}),
  requireIdentity: values['require-identity'] === true,
  peerIdentity,
  ...(pods ? { pods } : {}),
  docker: values.docker,
  logger,
}).catch((error: unknown) => die(`cannot start: ${(error as Error).message}`));
// Tools that start the agent read this line to learn the bound address.
process.stdout.write(`${JSON.stringify({ msg: 'ready', address: agent.address, metricsPort: agent.metricsPort })}\n`);

let stopping = false;
const stop = (why: string): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ why }, 'stopping: recovering every fault');
  agent.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
// Started by a controller with an IPC channel: if the controller dies, recover and exit (no orphan agent).
onSupervisorGone(() => stop('controller gone'));
