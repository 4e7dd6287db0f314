import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { ChaosAgentService, DEFAULT_HEARTBEAT_GRACE_MS, type AgentEvent } from '@nova/proto';
import type { Logger } from 'pino';
import { AuditLog } from './audit.ts';
import { agentDrivers } from './drivers/index.ts';
import { callerRoles } from './roles.ts';
import { FaultManager } from './fault-manager.ts';
import { AgentMetrics } from './metrics.ts';
import { controllerCalls } from './controller-calls.ts';
import type { PodDirectory } from './pod-directory.ts';
import { registerStream, type RegisterContext } from './register-stream.ts';
import { TargetRegistry } from './registry.ts';

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** `host:port` for gRPC; port 0 picks a free one. */
  listen: string;
  /** The controllers' bearer token: ListTargets, ListKinds, ApplyFault, RecoverFault, ListFaults, Watch. */
  token: string;
  /**
   * The services' bearer token: it may only Register. Without it, `token` serves both roles (one credential
   * then lets a service fault others: give services their own).
   */
  serviceToken?: string;
  /** TLS: server certificate and key; with `ca`, clients must present a certificate it signed (mTLS). */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** `host:port` for the Prometheus endpoint; omitted = no metrics server. */
  metricsListen?: string;
  /** Namespaces whose targets may be faulted (server-side allowlist); all when omitted. */
  allowedNamespaces?: readonly string[];
  /** Where mutating actions are appended as JSON lines. */
  auditFile?: string;
  /** Directory for the journal of stopped processes. */
  stateDir?: string;
  /**
   * Only processes descending from this pid may register (when the agent can see the caller's process): the
   * environment that started the services, so a process it did not start cannot join the blast radius.
   */
  trustedAncestor?: number;
  /**
   * Refuse services that present the plain services' token: each must present an identity token
   * (`mintIdentityToken` with the services' token as key), and register exactly as the identity it binds.
   * The environments that start the services mint one per service and set this.
   */
  requireIdentity?: boolean;
  /** Where a service's process is found from its connection (see `RegisterContext.peerIdentity`). */
  peerIdentity?: 'process' | 'pod';
  /**
   * With `peerIdentity: 'pod'` (required there): the API server's word on this node's pods, which a service's
   * claimed namespace, name and labels must match.
   */
  pods?: PodDirectory;
  /** Finds the process behind a connection from another network namespace (tests give their own). */
  findPeer?: RegisterContext['findPeer'];
  /** Services revert their faults after this long without hearing from us, in ms. Default 2 000. */
  heartbeatGraceMs?: number;
  /**
   * Enable the Docker driver (container-kill/-pause/-stress) and the kernel driver (network faults inside
   * containers' network namespaces). Needs root and a Docker engine; only containers labelled
   * `dev.nova.chaos/target=true` are touched.
   */
  docker?: boolean;
  logger: Logger;
}

/** A running agent. */
export interface RunningAgent {
  /** `host:port` actually bound. */
  readonly address: string;
  readonly metricsPort: number | undefined;
  readonly manager: FaultManager;
  readonly targets: TargetRegistry;
  readonly audit: AuditLog;
  /** Recovers every fault, closes every stream, stops listening. */
  close(): Promise<void>;
}

/**
 * Starts the agent: the gRPC API (token-checked on every call, TLS/mTLS when configured), the registry of
 * services, the fault manager with its leases, heartbeats to every service, and `/metrics`. A new agent
 * starts clean: it resumes any process a previous run left stopped.
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  // Fail closed: a pod's namespace, name and labels are never taken on its word.
  if (options.peerIdentity === 'pod' && !options.pods)
    throw new Error('peerIdentity "pod" needs a pod directory (the API server) to check what pods claim');
  const log = options.logger;
  const metrics = new AgentMetrics();
  const targets = new TargetRegistry();
  const audit = new AuditLog(options.auditFile);
  const drivers = await agentDrivers({ docker: options.docker, stateDir: options.stateDir, log });
  const watchers = new Set<grpc.ServerWritableStream<object, AgentEvent>>();
  const broadcast = (event: AgentEvent): void => {
    for (const w of watchers) w.write(event);
  };
  const manager = new FaultManager({
    targets,
    metrics,
    drivers,
    allowedNamespaces: options.allowedNamespaces,
    onEvent: (event) => {
      log.info({ event: event.type, fault: event.fault?.id }, 'fault event');
      broadcast(event);
    },
  });
  const graceMs = options.heartbeatGraceMs ?? DEFAULT_HEARTBEAT_GRACE_MS;
  const { registrant, authorized, deny } = callerRoles(options, metrics);
  const impl: grpc.UntypedServiceImplementation = {
    Register: registerStream({
      registrant,
      deny,
      requireIdentity: options.requireIdentity,
      trustedAncestor: options.trustedAncestor,
      peerIdentity: options.peerIdentity ?? 'process',
      pods: options.pods,
      findPeer: options.findPeer,
      targets,
      manager,
      metrics,
      audit,
      log,
      broadcast,
      graceMs,
      boundPort: () => boundPort,
    }),

    ...controllerCalls({ authorized, deny, targets, drivers, manager, metrics, audit, log, watchers }),
  };

  /** The port we listen on, once bound (calls only arrive after that): the remote port of our peers' sockets. */
  let boundPort = 0;
  // 1 MiB per message is far above any legitimate one (a spec, a Hello) and bounds what a caller can make us parse.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1 << 20 });
  server.addService(ChaosAgentService, impl);
  const creds = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.ca ?? null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        Boolean(options.tls.ca),
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  boundPort = port;
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  let metricsServer: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (options.metricsListen) {
    const i = options.metricsListen.lastIndexOf(':');
    const served = await metrics.serve(options.metricsListen.slice(0, i), Number(options.metricsListen.slice(i + 1)));
    metricsServer = served.server;
    metricsPort = served.port;
  }
  log.info(
    { address: `${host}:${port}`, metricsPort, tls: Boolean(options.tls), mtls: Boolean(options.tls?.ca) },
    'chaos agent listening',
  );

  let closed = false;
  return {
    address: `${host}:${port}`,
    metricsPort,
    manager,
    targets,
    audit,
    close: async () => {
      if (closed) return;
      closed = true;
      await manager.recoverAll();
      for (const w of watchers) w.end();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await audit.flush();
    },
  };
}
