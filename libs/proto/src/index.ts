import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * How long a service keeps its faults without hearing from the agent before it reverts them itself, in ms.
 * The agent's `--heartbeat-grace-ms` default; the agent tells each service its value in `Welcome`.
 */
export const DEFAULT_HEARTBEAT_GRACE_MS = 2_000;

/**
 * How much longer than the experiment's planned duration a fault's lease runs, in ms: the controller's own
 * recover ends a healthy experiment; the lease ends the fault only when the controller is gone. The margin
 * covers the controller's recover round trip and a loaded machine's scheduling delays.
 */
export const LEASE_MARGIN_MS = 2_000;

/** Path of the agent's `.proto`. */
export const AGENT_PROTO = fileURLToPath(new URL('../proto/nova/chaos/v1/agent.proto', import.meta.url));

/** One fault kind an agent offers (`ListKinds`). */
export interface FaultKind {
  kind: string;
  /** `in-process` (the service applies it), `process`, `container` or `kernel`. */
  layer: string;
  description: string;
  /** The fault holds its target down (stopped, paused): it outlives the target's control stream. */
  holdsTarget: boolean;
}

/** Message shapes as the loader delivers them (camelCase fields, int64 as numbers, defaults filled in). */
export interface Target {
  id: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  pid: number;
  ports: number[];
  registeredAtMs: number;
}
export interface Hello {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  pid: number;
  ports: number[];
}
export interface Ack {
  faultId: string;
  /**
   * Unasked: `expired` when the service's own lease ended the fault; `effect` every second while a fault is
   * active, with what it has done so far.
   */
  action: 'apply' | 'recover' | 'expired' | 'effect';
  ok: boolean;
  error: string;
  /** After recover or expiry: the fault's effect measured in the service, as JSON (`FaultEffect`). */
  effectJson?: string;
}
export interface Heartbeat {
  sentAtMs: number;
}
export interface ServiceMessage {
  hello?: Hello;
  ack?: Ack;
  heartbeat?: Heartbeat;
}
export interface Welcome {
  targetId: string;
  heartbeatGraceMs: number;
}
export interface FaultRule {
  faultId: string;
  kind: string;
  specJson: string;
  leaseMs: number;
}
export interface AgentMessage {
  welcome?: Welcome;
  apply?: FaultRule;
  recover?: { faultId: string };
  heartbeat?: Heartbeat;
}
export type FaultPhase = 'injected' | 'recovered' | 'failed';
export interface Fault {
  id: string;
  experimentUid: string;
  targetId: string;
  kind: string;
  specJson: string;
  phase: FaultPhase;
  appliedAtMs: number;
  expiresAtMs: number;
  error: string;
  recoveredAtMs: number;
  /** What the fault did, measured at its target, as JSON (`FaultEffect` of `@nova/faults`); '' until measured. */
  effectJson?: string;
  /** How it ended (see {@link FaultEnd}); '' or absent while injected. */
  endedBy?: FaultEnd | '';
}
/**
 * How a fault ended: asked to recover, its lease expired, a one-shot fault (a kill) completed, its target's
 * control stream ended first, or the agent shut down.
 */
export type FaultEnd = 'recovered' | 'expired' | 'completed' | 'target-gone' | 'shutdown';
export interface ApplyFaultRequest {
  experimentUid: string;
  targetId: string;
  kind: string;
  specJson: string;
  /** The fault's lease (ms): reverted by the agent after this long even if nobody asks. */
  leaseMs: number;
  actor?: string;
}
export interface RecoverFaultRequest {
  experimentUid: string;
  targetId?: string;
  actor?: string;
}
export type EventType =
  'target-registered' | 'target-gone' | 'fault-injected' | 'fault-recovered' | 'fault-failed' | 'fault-expired';
export interface AgentEvent {
  type: EventType;
  atMs: number;
  target?: Target;
  fault?: Fault;
  message: string;
}

const definition = protoLoader.loadSync(AGENT_PROTO, {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  nova: { chaos: { v1: { ChaosAgent: grpc.ServiceClientConstructor } } };
};

/** The gRPC service definition, for `server.addService`. */
export const ChaosAgentService: grpc.ServiceDefinition = loaded.nova.chaos.v1.ChaosAgent.service;

/** A typed client of the agent. */
export interface ChaosAgentClient extends grpc.Client {
  register(metadata?: grpc.Metadata): grpc.ClientDuplexStream<ServiceMessage, AgentMessage>;
  listTargets(
    req: { namespace?: string },
    md: grpc.Metadata,
    cb: grpc.requestCallback<{ targets: Target[] }>,
  ): grpc.ClientUnaryCall;
  listKinds(req: object, md: grpc.Metadata, cb: grpc.requestCallback<{ kinds: FaultKind[] }>): grpc.ClientUnaryCall;
  applyFault(
    req: ApplyFaultRequest,
    md: grpc.Metadata,
    cb: grpc.requestCallback<{ fault: Fault }>,
  ): grpc.ClientUnaryCall;
  recoverFault(
    req: RecoverFaultRequest,
    md: grpc.Metadata,
    cb: grpc.requestCallback<{ faults: Fault[] }>,
  ): grpc.ClientUnaryCall;
  listFaults(
    req: { includeEnded?: boolean },
    md: grpc.Metadata,
    cb: grpc.requestCallback<{ faults: Fault[] }>,
  ): grpc.ClientUnaryCall;
  watch(req: object, md: grpc.Metadata): grpc.ClientReadableStream<AgentEvent>;
}

/** Credentials for a client: TLS when a CA (and optionally a client cert for mTLS) is given, else insecure. */
export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /**
   * The name the server's certificate must carry, when it differs from the address dialled: services dial
   * their node's IP (`$(NODE_IP):7070`), which no certificate made before the cluster can name, and check
   * the agent's certificate for `chaos-agent` instead.
   */
  serverName?: string;
}

/** Creates a client of the agent at `address` (host:port). */
export function createAgentClient(address: string, tls?: ClientTls): ChaosAgentClient {
  const creds = tls
    ? grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null)
    : grpc.credentials.createInsecure();
  return new loaded.nova.chaos.v1.ChaosAgent(address, creds, {
    ...(tls?.serverName
      ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName }
      : {}),
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    // An agent restarts in about a second: reconnect quickly rather than after grpc's default 1–120 s backoff.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1_000,
  }) as unknown as ChaosAgentClient;
}

/** Metadata carrying the bearer token. */
export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

/** Calls a unary method as a promise. */
/**
 * The trailer in which the agent sends a failed call's stable error code (`AGENT_ERR_*`, or a fault runtime's
 * `CHAOS_ERR_*`), beside the gRPC status and message.
 */
export const ERROR_CODE_METADATA = 'nova-error-code';

/**
 * The stable code of an error: the agent's trailer of a failed gRPC call, or the `code` string of one of our
 * own errors (`CHAOS_ERR_*`, `API_ERR_*`); undefined when it has none (a gRPC status number is not one).
 */
export function errorCodeOf(error: unknown): string | undefined {
  const e = error as { metadata?: grpc.Metadata; code?: unknown } | undefined;
  const trailer = e?.metadata instanceof grpc.Metadata ? e.metadata.get(ERROR_CODE_METADATA)[0] : undefined;
  if (trailer !== undefined) return String(trailer);
  return typeof e?.code === 'string' ? e.code : undefined;
}

export function unary<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall,
  req: Req,
  md: grpc.Metadata,
  deadlineMs = 5_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = fn(req, md, (err, res) => (err ? reject(err) : resolve(res as Res)));
    const timer = setTimeout(() => call.cancel(), deadlineMs);
    call.on('status', () => clearTimeout(timer));
  });
}

export { grpc };
export * from './identity-token.ts';
export * from './labels.ts';
export * from './failure-journal.ts';
