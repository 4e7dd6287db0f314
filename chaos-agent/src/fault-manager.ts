import { AgentError, AgentErrorCodes, type AgentErrorCode } from './errors.ts';
import type { AgentEvent, ApplyFaultRequest, Fault, FaultEnd, Target } from '@nova/proto';
import type { AgentMetrics } from './metrics.ts';
import type { AgentDrivers } from './drivers/index.ts';
import type { ProcessInjection } from './drivers/process.ts';
import type { Registration, TargetRegistry } from './registry.ts';

/** Options of {@link FaultManager}. */
export interface FaultManagerOptions {
  targets: TargetRegistry;
  metrics: AgentMetrics;
  /** The kinds this agent offers: its own drivers and the in-process kinds (`drivers/index.ts`). */
  drivers: AgentDrivers;
  /** Namespaces whose targets may be faulted; all when undefined. Enforced here, server-side. */
  allowedNamespaces?: readonly string[];
  /**
   * Longest lease accepted, in ms. Default 1 h: a lease is the safety net of one experiment's fault, and a
   * caller must not be able to hold a process down for a day.
   */
  maxLeaseMs?: number;
  /** Budget for a service to acknowledge, in ms. Default 3 000. */
  ackTimeoutMs?: number;
  /** Ended faults are kept (for ListFaults and their effect) this long, in ms. Default 1 h. */
  endedRetentionMs?: number;
  /** At most this many ended faults are kept; the oldest go first. Default 1 000. */
  maxEnded?: number;
  onEvent: (event: AgentEvent) => void;
}

interface Entry {
  fault: Fault;
  timer?: NodeJS.Timeout;
  process?: ProcessInjection;
  /** The recovery in progress: a second caller waits for it instead of starting another. */
  finishing?: Promise<void>;
}

type EndReason = FaultEnd;

/**
 * Every fault this agent applied: ids keyed by (experiment uid, target, kind), leases enforced here (a
 * fault is reverted at expiry even if the controller is gone), in-process kinds delegated to the target's
 * control stream, process kinds applied to its PID.
 */
export class FaultManager {
  private readonly faults = new Map<string, Entry>();

  constructor(private readonly options: FaultManagerOptions) {}

  /** Every kind this agent can apply. */
  get kinds(): string[] {
    return this.options.drivers.kinds;
  }

  /** The faults (active ones, or all kept), an active process-level fault with what it has done so far. */
  list(includeEnded = false): Fault[] {
    for (const e of this.faults.values()) {
      if (e.fault.phase === 'injected' && e.process?.effect) e.fault.effectJson = JSON.stringify(e.process.effect());
    }
    return [...this.faults.values()].map((e) => e.fault).filter((f) => includeEnded || f.phase === 'injected');
  }

  get activeCount(): number {
    return this.list().length;
  }

  async apply(req: ApplyFaultRequest): Promise<Fault> {
    this.prune();
    const { experimentUid, targetId, kind, leaseMs } = req;
    const { registration, parsed } = this.admit(req);
    const { target } = registration;
    const processDriver = this.options.drivers.own(kind);
    const id = `${experimentUid}/${targetId}/${kind}`;
    const existing = this.faults.get(id);
    if (existing && existing.fault.phase === 'injected') return existing.fault;

    const now = Date.now();
    const fault: Fault = {
      id,
      experimentUid,
      targetId,
      kind,
      specJson: req.specJson || '{}',
      phase: 'injected',
      appliedAtMs: now,
      expiresAtMs: now + leaseMs,
      error: '',
      recoveredAtMs: 0,
    };
    const entry: Entry = { fault };
    try {
      if (processDriver) {
        entry.process = await processDriver.apply(target, parsed, leaseMs, id, {
          peer: registration.peer,
          verifiedPid: registration.verifiedPid,
        });
        // A kill is over once the process is gone: the fault is then recovered (the supervisor restarts it).
        void entry.process.settled.then(() => this.finish(id, 'completed'));
      } else {
        registration.send({ apply: { faultId: id, kind, specJson: fault.specJson, leaseMs } });
        await registration.awaitAck(id, 'apply', this.options.ackTimeoutMs ?? 3_000);
      }
    } catch (error) {
      fault.phase = 'failed';
      fault.error = (error as Error).message;
      this.faults.set(id, entry);
      this.options.metrics.applies.inc({ kind, result: 'failed' });
      this.event('fault-failed', fault, target);
      // An apply that was not acknowledged may still have landed: tell the service to drop it.
      if (!processDriver) registration.send({ recover: { faultId: id } });
      throw new AgentError(
        'FAILED_PRECONDITION',
        AgentErrorCodes.APPLY_FAILED,
        `could not inject ${kind} into ${target.name}: ${fault.error}`,
      );
    }
    entry.timer = setTimeout(() => void this.finish(id, 'expired'), leaseMs);
    entry.timer.unref();
    this.faults.set(id, entry);
    this.options.metrics.applies.inc({ kind, result: 'ok' });
    this.options.metrics.faultsActive.inc({ kind });
    this.event('fault-injected', fault, target);
    return fault;
  }

  /**
   * Checks an apply before anything happens: the ids, a lease within the maximum, a registered target in an
   * allowed namespace, and a spec its kind accepts. Throws an {@link AgentError} with the stable code.
   */
  private admit(req: ApplyFaultRequest): { registration: Registration; parsed: unknown } {
    const { experimentUid, targetId, kind, leaseMs } = req;
    if (!experimentUid)
      throw new AgentError('INVALID_ARGUMENT', AgentErrorCodes.INVALID_REQUEST, 'experiment_uid is required');
    if (!targetId)
      throw new AgentError(
        'INVALID_ARGUMENT',
        AgentErrorCodes.INVALID_REQUEST,
        'target_id is required (see ListTargets)',
      );
    const max = this.options.maxLeaseMs ?? 3_600_000;
    if (!(leaseMs > 0) || leaseMs > max) {
      throw new AgentError(
        'INVALID_ARGUMENT',
        AgentErrorCodes.LEASE,
        `lease_ms must be between 1 and ${max}, got ${leaseMs}: every fault needs a lease`,
      );
    }
    const registration = this.options.targets.get(targetId);
    if (!registration)
      throw new AgentError(
        'NOT_FOUND',
        AgentErrorCodes.TARGET_NOT_FOUND,
        `no registered target "${targetId}" (see ListTargets)`,
      );
    const { target } = registration;
    const allowed = this.options.allowedNamespaces;
    if (allowed && !allowed.includes(target.namespace)) {
      throw new AgentError(
        'PERMISSION_DENIED',
        AgentErrorCodes.NAMESPACE_DENIED,
        `namespace "${target.namespace}" is not in the allowed namespaces (${allowed.join(', ')})`,
      );
    }
    let spec: unknown;
    try {
      spec = JSON.parse(req.specJson || '{}');
    } catch {
      throw new AgentError(
        'INVALID_ARGUMENT',
        AgentErrorCodes.INVALID_REQUEST,
        `spec_json is not valid JSON: ${req.specJson.slice(0, 80)}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = this.options.drivers.parse(kind, spec);
    } catch (error) {
      // An unknown kind names every kind this agent offers (in-process and its own), as ListKinds does.
      const code = (error as { code?: unknown }).code;
      throw new AgentError(
        'INVALID_ARGUMENT',
        typeof code === 'string' && code.startsWith('CHAOS_ERR_')
          ? (code as AgentErrorCode)
          : AgentErrorCodes.INVALID_REQUEST,
        (error as Error).message,
      );
    }
    return { registration, parsed };
  }

  /** Recovers the faults of an experiment (on one target, or all). Idempotent; a gone target counts as recovered. */
  async recover(experimentUid: string, targetId?: string): Promise<Fault[]> {
    if (!experimentUid)
      throw new AgentError('INVALID_ARGUMENT', AgentErrorCodes.INVALID_REQUEST, 'experiment_uid is required');
    const matching = [...this.faults.values()]
      .map((e) => e.fault)
      .filter((f) => f.experimentUid === experimentUid && (!targetId || f.targetId === targetId));
    await Promise.all(matching.map((f) => this.finish(f.id, 'recovered')));
    return matching;
  }

  /**
   * Forgets ended faults past their retention, and the oldest beyond the cap: an agent that applies faults
   * for weeks must not keep every one (20 004 were kept in one probe).
   */
  private prune(now = Date.now()): void {
    const retention = this.options.endedRetentionMs ?? 3_600_000;
    const ended = [...this.faults.entries()].filter(([, e]) => e.fault.phase !== 'injected');
    let excess = ended.length - (this.options.maxEnded ?? 1_000);
    for (const [id, e] of ended) {
      if (excess > 0 || now - (e.fault.recoveredAtMs || e.fault.appliedAtMs) > retention) {
        this.faults.delete(id);
        excess--;
      }
    }
  }

  /** Recovers every fault (agent shutdown). */
  async recoverAll(): Promise<void> {
    await Promise.all([...this.faults.keys()].map((id) => this.finish(id, 'shutdown')));
  }

  /**
   * A target's stream ended: its in-process faults went with it, and a kill is complete. A held-down
   * (SIGSTOPped, paused) target keeps its fault until recovery or lease: it must be resumed whatever happens.
   */
  targetGone(targetId: string): void {
    for (const e of this.faults.values()) {
      if (
        e.fault.targetId === targetId &&
        e.fault.phase === 'injected' &&
        !this.options.drivers.own(e.fault.kind)?.holdsTarget
      ) {
        void this.finish(e.fault.id, 'target-gone');
      }
    }
  }

  /** What an active in-process fault has done so far, as its service reports it every second. */
  liveEffect(faultId: string, targetId: string, effectJson: string): void {
    const entry = this.faults.get(faultId);
    if (entry && entry.fault.targetId === targetId && entry.fault.phase === 'injected' && effectJson)
      entry.fault.effectJson = effectJson;
  }

  /**
   * The service's lease ended an in-process fault before ours did: keep what it says the fault did. Our own
   * lease (or a recover) still ends the fault here, and asks the service, which answers with the same effect.
   */
  expiredInService(faultId: string, targetId: string, effectJson: string): void {
    const entry = this.faults.get(faultId);
    if (entry && entry.fault.targetId === targetId && effectJson) entry.fault.effectJson = effectJson;
  }

  private finish(id: string, reason: EndReason): Promise<void> {
    const entry = this.faults.get(id);
    if (!entry || entry.fault.phase !== 'injected') return entry?.finishing ?? Promise.resolve();
    return (entry.finishing ??= this.undo(entry, reason));
  }

  /**
   * Reverts one fault and only then records the outcome: `recovered` with the effect measured at the target,
   * or `failed` with the reason when the undo failed (the fault may still be in place: status, audit and
   * report must say so).
   */
  private async undo(entry: Entry, reason: EndReason): Promise<void> {
    const { fault } = entry;
    clearTimeout(entry.timer);
    const registration = this.options.targets.get(fault.targetId);
    let error: string | undefined;
    try {
      if (entry.process) {
        await entry.process.undo();
      } else if (registration) {
        registration.send({ recover: { faultId: fault.id } });
        const ack = await registration.awaitAck(fault.id, 'recover', this.options.ackTimeoutMs ?? 3_000);
        if (ack.effectJson) fault.effectJson = ack.effectJson;
      } else {
        // The process went with its in-process faults; whatever the service measured went with it too.
        fault.effectJson ||= JSON.stringify({
          took: false,
          summary: `${fault.targetId} ended before the fault was recovered; its effect was not reported`,
          figures: {},
        });
      }
    } catch (e) {
      error = (e as Error).message;
      const ack = (e as { ack?: { effectJson?: string } }).ack;
      if (ack?.effectJson) fault.effectJson = ack.effectJson;
    }
    if (entry.process?.effect) fault.effectJson = JSON.stringify(entry.process.effect());
    fault.recoveredAtMs = Date.now();
    fault.endedBy = reason;
    fault.phase = error === undefined ? 'recovered' : 'failed';
    if (error !== undefined) fault.error = `recover failed: ${error}`;
    this.options.metrics.faultsActive.dec({ kind: fault.kind });
    this.options.metrics.recovers.inc({ kind: fault.kind, reason: error === undefined ? reason : 'failed' });
    const type = error !== undefined ? 'fault-failed' : reason === 'expired' ? 'fault-expired' : 'fault-recovered';
    this.event(type, fault, registration?.target);
  }

  private event(type: AgentEvent['type'], fault: Fault, target?: Target): void {
    this.options.onEvent({ type, atMs: Date.now(), fault: { ...fault }, ...(target ? { target } : {}), message: '' });
  }
}
