import * as grpc from '@grpc/grpc-js';
import type { AgentEvent, ApplyFaultRequest, RecoverFaultRequest } from '@nova/proto';
import type { Logger } from 'pino';
import type { AuditLog } from './audit.ts';
import type { AgentDrivers } from './drivers/index.ts';
import { AgentError, AgentErrorCodes } from './errors.ts';
import type { FaultManager } from './fault-manager.ts';
import type { AgentMetrics } from './metrics.ts';
import type { TargetRegistry } from './registry.ts';
import { errorTrailer, type callerRoles } from './roles.ts';

/** What the controllers' calls need of the agent. */
export interface ControllerContext {
  authorized: ReturnType<typeof callerRoles>['authorized'];
  deny: ReturnType<typeof callerRoles>['deny'];
  targets: TargetRegistry;
  drivers: AgentDrivers;
  manager: FaultManager;
  metrics: AgentMetrics;
  audit: AuditLog;
  log: Logger;
  /** The open `Watch` streams, which every event goes to. */
  watchers: Set<grpc.ServerWritableStream<object, AgentEvent>>;
}

/**
 * The controllers' calls (controller token only): ListTargets, ListKinds, ApplyFault, RecoverFault,
 * ListFaults, Watch. Every apply and recover, allowed or not, is audited with the actor; a failed call carries
 * its gRPC status, message and stable code (`nova-error-code`).
 */
export function controllerCalls(ctx: ControllerContext): grpc.UntypedServiceImplementation {
  const actorOf = (req: { actor?: string }, call: grpc.ServerUnaryCall<unknown, unknown>): string =>
    req.actor || call.getPeer();

  function fail(method: string, error: unknown): grpc.ServiceError {
    const code = error instanceof AgentError ? grpc.status[error.status] : grpc.status.INTERNAL;
    ctx.metrics.errors.inc({ method, code: error instanceof AgentError ? error.status : 'INTERNAL' });
    if (!(error instanceof AgentError)) ctx.log.error({ err: error, method }, 'unexpected error');
    return Object.assign(new Error((error as Error).message), {
      code,
      details: (error as Error).message,
      metadata: errorTrailer(error instanceof AgentError ? error.code : AgentErrorCodes.INTERNAL),
    });
  }

  return {
    ListTargets(call: grpc.ServerUnaryCall<{ namespace: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!ctx.authorized(call.metadata, 'ListTargets')) return cb(ctx.deny);
      cb(null, { targets: ctx.targets.list(call.request.namespace || undefined) });
    },

    ListKinds(call: grpc.ServerUnaryCall<object, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!ctx.authorized(call.metadata, 'ListKinds')) return cb(ctx.deny);
      cb(null, { kinds: ctx.drivers.list() });
    },

    ApplyFault(call: grpc.ServerUnaryCall<ApplyFaultRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!ctx.authorized(call.metadata, 'ApplyFault')) return cb(ctx.deny);
      const req = call.request;
      const audited = (result: 'ok' | 'denied' | 'failed', detail?: string): void =>
        ctx.audit.write({
          actor: actorOf(req, call),
          action: 'apply',
          target: req.targetId,
          experimentUid: req.experimentUid,
          kind: req.kind,
          result,
          ...(detail !== undefined ? { detail } : {}),
        });
      ctx.manager.apply(req).then(
        (fault) => {
          audited('ok');
          cb(null, { fault });
        },
        (error: unknown) => {
          const denied = error instanceof AgentError && error.status === 'PERMISSION_DENIED';
          audited(denied ? 'denied' : 'failed', (error as Error).message);
          cb(fail('ApplyFault', error));
        },
      );
    },

    RecoverFault(call: grpc.ServerUnaryCall<RecoverFaultRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!ctx.authorized(call.metadata, 'RecoverFault')) return cb(ctx.deny);
      const req = call.request;
      ctx.manager.recover(req.experimentUid, req.targetId || undefined).then(
        (faults) => {
          // A fault whose undo failed may still be in place: the audit says so, not "ok".
          const failed = faults.filter((f) => f.phase === 'failed');
          ctx.audit.write({
            actor: actorOf(req, call),
            action: 'recover',
            experimentUid: req.experimentUid,
            target: req.targetId || '*',
            result: failed.length ? 'failed' : 'ok',
            detail: failed.length
              ? `${failed.length} of ${faults.length} fault(s) not reverted: ${failed.map((f) => `${f.kind} on ${f.targetId}: ${f.error}`).join('; ')}`
              : `${faults.length} fault(s)`,
          });
          cb(null, { faults });
        },
        (error: unknown) => cb(fail('RecoverFault', error)),
      );
    },

    ListFaults(call: grpc.ServerUnaryCall<{ includeEnded: boolean }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      if (!ctx.authorized(call.metadata, 'ListFaults')) return cb(ctx.deny);
      cb(null, { faults: ctx.manager.list(call.request.includeEnded) });
    },

    Watch(call: grpc.ServerWritableStream<object, AgentEvent>) {
      if (!ctx.authorized(call.metadata, 'Watch')) {
        call.emit('error', ctx.deny);
        return;
      }
      ctx.watchers.add(call);
      const drop = (): void => void ctx.watchers.delete(call);
      call.on('cancelled', drop);
      call.on('close', drop);
    },
  };
}
