import type { Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import {
  ChaosAgentService,
  DEFAULT_HEARTBEAT_GRACE_MS,
  identityMismatch,
  type AgentEvent,
  type AgentMessage,
  type ApplyFaultRequest,
  type RecoverFaultRequest,
  type ServiceMessage,
} from '@nova/proto';
import type { Logger } from 'pino';
import { AuditLog } from './audit.ts';
import { agentDrivers } from './drivers/index.ts';
import { AgentError, AgentErrorCodes } from './errors.ts';
import { callerRoles, errorTrailer } from './roles.ts';
import { FaultManager } from './fault-manager.ts';
import { AgentMetrics } from './metrics.ts';
import { helloProblem } from './hello.ts';
import { descendsFrom, pidOfTcpPeer } from './peer-identity.ts';
import { TargetRegistry, type Registration } from './registry.ts';

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

const STATUS = grpc.status;

/**
 * Starts the agent: the gRPC API (token-checked on every call, TLS/mTLS when configured), the registry of
 * services, the fault manager with its leases, heartbeats to every service, and `/metrics`. A new agent
 * starts clean: it resumes any process a previous run left stopped.
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
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
  const actorOf = (req: { actor?: string }, call: grpc.ServerUnaryCall<unknown, unknown>): string =>
    req.actor || call.getPeer();

  function fail(method: string, error: unknown): grpc.ServiceError {
    const code = error instanceof AgentError ? STATUS[error.status] : STATUS.INTERNAL;
    metrics.errors.inc({ method, code: error instanceof AgentError ? error.status : 'INTERNAL' });
    if (!(error instanceof AgentError)) log.error({ err: error, method }, 'unexpected error');
    return Object.assign(new Error((error as Error).message), {
      code,
      details: (error as Error).message,
      metadata: errorTrailer(error instanceof AgentError ? error.code : AgentErrorCodes.INTERNAL),
    });
  }

  const impl: grpc.UntypedServiceImplementation = {
    Register(call: grpc.ServerDuplexStream<ServiceMessage, AgentMessage>) {
      const caller = registrant(call.metadata);
      if (!caller) {
        call.emit(
          'error',
          options.requireIdentity
            ? { ...deny, details: `${deny.details}; this agent takes only identity tokens from services` }
            : deny,
        );
        return;
      }
      let registration: Registration | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      /** The stream ended: a registration still being checked must not be added after that. */
      let ended = false;
      let hello: Promise<void> | undefined;
      const end = (): void => {
        ended = true;
        clearInterval(heartbeat);
        if (!registration) return;
        const { target } = registration;
        targets.remove(target.id);
        metrics.targets.set(targets.size);
        manager.targetGone(target.id);
        log.info({ target: target.id }, 'target gone');
        broadcast({ type: 'target-gone', atMs: Date.now(), target, message: '' });
        registration = undefined;
      };
      const refuse = (code: grpc.status, why: string, claimed: ServiceMessage['hello']): void => {
        metrics.errors.inc({ method: 'Register', code: grpc.status[code] });
        audit.write({
          actor: call.getPeer(),
          action: 'register',
          target: `${String(claimed?.name).slice(0, 80)} (pid ${claimed?.pid})`,
          result: 'denied',
          detail: why,
        });
        log.warn({ peer: call.getPeer(), name: claimed?.name, pid: claimed?.pid, why }, 'registration refused');
        call.emit('error', { code, details: why });
      };
      call.on('data', (msg: ServiceMessage) => {
        if (msg.hello && !registration && !hello) {
          const claimed = msg.hello;
          hello = (async () => {
            const problem = helloProblem(claimed);
            if (problem) return refuse(STATUS.INVALID_ARGUMENT, `Hello refused: ${problem}`, claimed);
            // Name, namespace and labels are the environment's word (the identity its token binds), not the caller's.
            const mismatch = caller.identity && identityMismatch(caller.identity, claimed);
            if (mismatch) {
              return refuse(
                STATUS.PERMISSION_DENIED,
                `Hello refused: its credential is ${caller.identity!.name}'s, but it claims another identity: ${mismatch}`,
                claimed,
              );
            }
            // The pid is the kernel's word, not the caller's: a claim that disagrees is an impersonation.
            const peerPid = await pidOfTcpPeer(call.getPeer(), boundPort);
            if (peerPid !== undefined && peerPid !== claimed.pid) {
              return refuse(
                STATUS.PERMISSION_DENIED,
                `Hello refused: it claims pid ${claimed.pid}, but the connection belongs to pid ${peerPid}`,
                claimed,
              );
            }
            const ancestor = options.trustedAncestor;
            if (peerPid !== undefined && ancestor !== undefined && !(await descendsFrom(peerPid, ancestor))) {
              return refuse(
                STATUS.PERMISSION_DENIED,
                `Hello refused: pid ${peerPid} was not started by this environment (it does not descend from pid ${ancestor})`,
                claimed,
              );
            }
            if (ended) return;
            registration = targets.add(
              claimed,
              (m) => call.write(m),
              () => call.end(),
              call.getPeer(),
              peerPid,
            );
            onRegistered(registration);
          })().catch((error: unknown) =>
            refuse(STATUS.INTERNAL, `registration failed: ${(error as Error).message}`, claimed),
          );
        } else if (msg.ack && registration) {
          // An `expired` ack is unasked: the service's lease ended a fault, and it says what the fault did.
          if (msg.ack.action === 'expired')
            manager.expiredInService(msg.ack.faultId, registration.target.id, msg.ack.effectJson ?? '');
          else if (msg.ack.action === 'effect')
            manager.liveEffect(msg.ack.faultId, registration.target.id, msg.ack.effectJson ?? '');
          else registration.onAck(msg.ack);
        }
      });
      function onRegistered(r: Registration): void {
        const { target } = r;
        metrics.targets.set(targets.size);
        call.write({ welcome: { targetId: target.id, heartbeatGraceMs: graceMs } });
        heartbeat = setInterval(() => call.write({ heartbeat: { sentAtMs: Date.now() } }), Math.max(100, graceMs / 4));
        log.info(
          { target: target.id, pid: target.pid, verified: r.verifiedPid !== undefined, namespace: target.namespace },
          'target registered',
        );
        broadcast({ type: 'target-registered', atMs: Date.now(), target, message: '' });
      }
      call.on('end', () => {
        end();
        call.end();
      });
      call.on('error', end);
      call.on('cancelled', end);
    },

    ListTargets(call: grpc.ServerUnaryCall<{ namespace: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!authorized(call.metadata, 'ListTargets')) return cb(deny);
      cb(null, { targets: targets.list(call.request.namespace || undefined) });
    },

    ListKinds(call: grpc.ServerUnaryCall<object, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!authorized(call.metadata, 'ListKinds')) return cb(deny);
      cb(null, { kinds: drivers.list() });
    },

    ApplyFault(call: grpc.ServerUnaryCall<ApplyFaultRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!authorized(call.metadata, 'ApplyFault')) return cb(deny);
      const req = call.request;
      const actor = actorOf(req, call);
      manager.apply(req).then(
        (fault) => {
          audit.write({
            actor,
            action: 'apply',
            target: req.targetId,
            experimentUid: req.experimentUid,
            kind: req.kind,
            result: 'ok',
          });
          cb(null, { fault });
        },
        (error: unknown) => {
          const denied = error instanceof AgentError && error.status === 'PERMISSION_DENIED';
          audit.write({
            actor,
            action: 'apply',
            target: req.targetId,
            experimentUid: req.experimentUid,
            kind: req.kind,
            result: denied ? 'denied' : 'failed',
            detail: (error as Error).message,
          });
          cb(fail('ApplyFault', error));
        },
      );
    },

    RecoverFault(call: grpc.ServerUnaryCall<RecoverFaultRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!authorized(call.metadata, 'RecoverFault')) return cb(deny);
      const req = call.request;
      manager.recover(req.experimentUid, req.targetId || undefined).then(
        (faults) => {
          audit.write({
            actor: actorOf(req, call),
            action: 'recover',
            experimentUid: req.experimentUid,
            target: req.targetId || '*',
            result: 'ok',
            detail: `${faults.length} fault(s)`,
          });
          cb(null, { faults });
        },
        (error: unknown) => cb(fail('RecoverFault', error)),
      );
    },

    ListFaults(call: grpc.ServerUnaryCall<{ includeEnded: boolean }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!authorized(call.metadata, 'ListFaults')) return cb(deny);
      cb(null, { faults: manager.list(call.request.includeEnded) });
    },

    Watch(call: grpc.ServerWritableStream<object, AgentEvent>) {
      if (!authorized(call.metadata, 'Watch')) {
        call.emit('error', deny);
        return;
      }
      watchers.add(call);
      const drop = (): void => void watchers.delete(call);
      call.on('cancelled', drop);
      call.on('close', drop);
    },
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
