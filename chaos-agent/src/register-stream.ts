import * as grpc from '@grpc/grpc-js';
import { identityMismatch, type AgentEvent, type AgentMessage, type ServiceMessage } from '@nova/proto';
import type { Logger } from 'pino';
import type { AuditLog } from './audit.ts';
import type { FaultManager } from './fault-manager.ts';
import { helloProblem } from './hello.ts';
import type { AgentMetrics } from './metrics.ts';
import { descendsFrom, pidOfTcpPeer } from './peer-identity.ts';
import { podMismatch, type PodDirectory } from './pod-directory.ts';
import { peerProcess, podUidOf, type PeerProcess } from './pod-identity.ts';
import type { TargetRegistry, Registration } from './registry.ts';
import type { callerRoles } from './roles.ts';

/** What a service's `Register` stream needs of the agent. */
export interface RegisterContext {
  registrant: ReturnType<typeof callerRoles>['registrant'];
  deny: ReturnType<typeof callerRoles>['deny'];
  /** Refuse the plain services' token (identity tokens only). */
  requireIdentity: boolean | undefined;
  /** Only processes descending from this pid may register, when the agent can see the caller's process. */
  trustedAncestor: number | undefined;
  targets: TargetRegistry;
  manager: FaultManager;
  metrics: AgentMetrics;
  audit: AuditLog;
  log: Logger;
  broadcast: (event: AgentEvent) => void;
  /** Services revert their faults after this long without hearing from us, in ms. */
  graceMs: number;
  /** The port the agent listens on (the remote port of its peers' sockets), once bound. */
  boundPort: () => number;
  /**
   * Where a service's process is found: `process` (default) in the agent's own network namespace (local,
   * and containers, whose pids come from Docker); `pod` in any namespace of this node, and it must run in a
   * Kubernetes pod (its cgroup names one): the agent's DaemonSet runs with hostPID.
   */
  peerIdentity?: 'process' | 'pod';
  /** With `pod`: the API server's word on this node's pods. */
  pods?: PodDirectory | undefined;
  /** Finds the process behind a connection from another network namespace. Default {@link peerProcess}. */
  findPeer?: ((peer: string, agentPort: number) => Promise<PeerProcess | undefined>) | undefined;
}

/**
 * A `Hello` checked against what the connection proves: its bounds, the identity the caller's token binds
 * (name, namespace and labels are the environment's word, not the caller's), the pid the kernel says holds
 * the socket, and that pid's ancestry. Answers the verified pid (undefined where the agent cannot see the
 * caller's process), or why the Hello is refused.
 */
async function verifyHello(
  ctx: RegisterContext,
  caller: NonNullable<ReturnType<RegisterContext['registrant']>>,
  claimed: NonNullable<ServiceMessage['hello']>,
  peer: string,
): Promise<{ peerPid: number | undefined } | { refused: string; code: grpc.status }> {
  const problem = helloProblem(claimed);
  if (problem) return { refused: problem, code: grpc.status.INVALID_ARGUMENT };
  const mismatch = caller.identity && identityMismatch(caller.identity, claimed);
  if (mismatch) {
    return {
      refused: `its credential is ${caller.identity!.name}'s, but it claims another identity: ${mismatch}`,
      code: grpc.status.PERMISSION_DENIED,
    };
  }
  if (ctx.peerIdentity === 'pod') return verifyPod(ctx, claimed, peer);
  // The pid is the kernel's word, not the caller's: a claim that disagrees is an impersonation.
  const peerPid = await pidOfTcpPeer(peer, ctx.boundPort());
  if (peerPid !== undefined && peerPid !== claimed.pid) {
    return {
      refused: `it claims pid ${claimed.pid}, but the connection belongs to pid ${peerPid}`,
      code: grpc.status.PERMISSION_DENIED,
    };
  }
  const ancestor = ctx.trustedAncestor;
  if (peerPid !== undefined && ancestor !== undefined && !(await descendsFrom(peerPid, ancestor))) {
    return {
      refused: `pid ${peerPid} was not started by this environment (it does not descend from pid ${ancestor})`,
      code: grpc.status.PERMISSION_DENIED,
    };
  }
  return { peerPid };
}

/**
 * In Kubernetes: the connection's process, found in whichever network namespace of this node holds it, must
 * run in a pod (its cgroup names the pod's UID), its own pid must be the one claimed, and the API server must
 * list that pod on this node with the namespace, name and labels the `Hello` claims.
 */
async function verifyPod(
  ctx: RegisterContext,
  claimed: NonNullable<ServiceMessage['hello']>,
  peer: string,
): Promise<{ peerPid: number } | { refused: string; code: grpc.status }> {
  const p = await (ctx.findPeer ?? peerProcess)(peer, ctx.boundPort());
  const podUid = p && podUidOf(p.cgroup);
  if (!p || !podUid)
    return {
      refused: `the connection from ${peer} does not come from a pod on this node (no process of a kubepods cgroup holds it)`,
      code: grpc.status.PERMISSION_DENIED,
    };
  if (p.nsPid !== claimed.pid)
    return {
      refused: `it claims pid ${claimed.pid}, but the connection belongs to pid ${p.nsPid} of pod ${podUid}`,
      code: grpc.status.PERMISSION_DENIED,
    };
  if (!ctx.pods) return { refused: 'no pod directory to check the pod with', code: grpc.status.INTERNAL };
  let pod;
  try {
    pod = await ctx.pods.pod(podUid);
  } catch (error) {
    // Fail closed: a registration the agent cannot check is not accepted; the service retries.
    return {
      refused: `cannot ask the API server about pod ${podUid}: ${(error as Error).message.slice(0, 200)}`,
      code: grpc.status.UNAVAILABLE,
    };
  }
  if (!pod)
    return {
      refused: `the API server lists no pod ${podUid} on this node`,
      code: grpc.status.PERMISSION_DENIED,
    };
  const mismatch = podMismatch(claimed, pod);
  if (mismatch) return { refused: mismatch, code: grpc.status.PERMISSION_DENIED };
  return { peerPid: p.pid };
}

/**
 * The `Register` call of one service: the caller's credential and its `Hello` checked against what the
 * connection proves (the identity its token binds, the pid the kernel says holds the socket, its ancestry),
 * then a registration with heartbeats, acks routed to the fault manager, and cleanup when the stream ends.
 */
export function registerStream(ctx: RegisterContext) {
  return (call: grpc.ServerDuplexStream<ServiceMessage, AgentMessage>): void => {
    const caller = ctx.registrant(call.metadata);
    if (!caller) {
      call.emit(
        'error',
        ctx.requireIdentity
          ? { ...ctx.deny, details: `${ctx.deny.details}; this agent takes only identity tokens from services` }
          : ctx.deny,
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
      ctx.targets.remove(target.id);
      ctx.metrics.targets.set(ctx.targets.size);
      ctx.manager.targetGone(target.id);
      ctx.log.info({ target: target.id }, 'target gone');
      ctx.broadcast({ type: 'target-gone', atMs: Date.now(), target, message: '' });
      registration = undefined;
    };
    const refuse = (code: grpc.status, why: string, claimed: ServiceMessage['hello']): void => {
      ctx.metrics.errors.inc({ method: 'Register', code: grpc.status[code] });
      ctx.audit.write({
        actor: call.getPeer(),
        action: 'register',
        target: `${String(claimed?.name).slice(0, 80)} (pid ${claimed?.pid})`,
        result: 'denied',
        detail: why,
      });
      ctx.log.warn({ peer: call.getPeer(), name: claimed?.name, pid: claimed?.pid, why }, 'registration refused');
      call.emit('error', { code, details: why });
    };
    call.on('data', (msg: ServiceMessage) => {
      if (msg.hello && !registration && !hello) {
        const claimed = msg.hello;
        hello = (async () => {
          const verdict = await verifyHello(ctx, caller, claimed, call.getPeer());
          if ('refused' in verdict) return refuse(verdict.code, `Hello refused: ${verdict.refused}`, claimed);
          const { peerPid } = verdict;
          if (ended) return;
          registration = ctx.targets.add(
            claimed,
            (m) => call.write(m),
            () => call.end(),
            call.getPeer(),
            peerPid,
          );
          onRegistered(registration);
        })().catch((error: unknown) =>
          refuse(grpc.status.INTERNAL, `registration failed: ${(error as Error).message}`, claimed),
        );
      } else if (msg.ack && registration) {
        // An `expired` ack is unasked: the service's lease ended a fault, and it says what the fault did.
        if (msg.ack.action === 'expired')
          ctx.manager.expiredInService(msg.ack.faultId, registration.target.id, msg.ack.effectJson ?? '');
        else if (msg.ack.action === 'effect')
          ctx.manager.liveEffect(msg.ack.faultId, registration.target.id, msg.ack.effectJson ?? '');
        else registration.onAck(msg.ack);
      }
    });
    function onRegistered(r: Registration): void {
      const { target } = r;
      ctx.metrics.targets.set(ctx.targets.size);
      call.write({ welcome: { targetId: target.id, heartbeatGraceMs: ctx.graceMs } });
      heartbeat = setInterval(
        () => call.write({ heartbeat: { sentAtMs: Date.now() } }),
        Math.max(100, ctx.graceMs / 4),
      );
      ctx.log.info(
        { target: target.id, pid: target.pid, verified: r.verifiedPid !== undefined, namespace: target.namespace },
        'target registered',
      );
      ctx.broadcast({ type: 'target-registered', atMs: Date.now(), target, message: '' });
    }
    call.on('end', () => {
      end();
      call.end();
    });
    call.on('error', end);
    call.on('cancelled', end);
  };
}
