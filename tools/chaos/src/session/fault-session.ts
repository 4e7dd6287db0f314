import type { Fault } from '@nova/proto';
import type { ChaosPlan } from '../plan/translate.ts';
import { wait } from '../run/wait.ts';

/** How a session applies and reverts faults: the runner (agent client, leases, audit, policy's actor). */
export interface FaultPort {
  /** Applies a plan's faults under `uid`, each with a lease of the plan's duration plus the margin. */
  inject(uid: string, plan: ChaosPlan, injected: Array<{ target: string; kind: string; phase: string }>): Promise<void>;
  /** Recovers every fault of `uid`; the agent's records of them, with their measured effects. */
  recover(uid: string): Promise<Fault[]>;
}

/** Where a session is: Chaos Mesh's records of a chaos object (pending → injected ⇄ paused → recovered). */
export type SessionPhase = 'pending' | 'injected' | 'paused' | 'recovered' | 'failed';

/** An action the session's phase does not allow (pausing what is not injected). */
export class SessionStateError extends Error {
  readonly code = 'CHAOS_ERR_SESSION_STATE';
  constructor(
    readonly phase: SessionPhase,
    action: string,
  ) {
    super(`cannot ${action}: the experiment is ${phase}`);
    this.name = 'SessionStateError';
  }
}

/** Options of {@link FaultSession}. */
export interface FaultSessionOptions {
  /**
   * Called once the fault has been injected for its whole duration (counting only the time it was injected,
   * not paused), so the owner recovers it. Without it, the owner decides when to recover (a run's hold).
   */
  onExpire?: (session: FaultSession) => void;
  /** The clock for the time left, in ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * The faults of one experiment (or one Workflow node) on their way through inject → hold → pause/resume →
 * recover, with Chaos Mesh's semantics: a pause recovers the faults and keeps the time left; resume injects
 * again for that time; recover is idempotent and ends the session, `failed` when an undo failed (the
 * agent's records say which). A failed injection recovers whatever landed before it rethrows. Used alike by
 * `chaos run` (the runner holds and recovers), the REST API (expiry, pause, resume, stop), Workflow chaos
 * nodes and the Schedules' children.
 */
export class FaultSession {
  private current: SessionPhase = 'pending';
  private left: number;
  private injectedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private recovering: Promise<Fault[]> | undefined;
  private readonly now: () => number;
  /** The agent's records of the faults at the last recovery (their effects), empty before. */
  faults: Fault[] = [];
  /** Why the session failed: the injection's error or the failed undos. */
  error: string | undefined;

  constructor(
    readonly uid: string,
    readonly plan: ChaosPlan,
    private readonly port: FaultPort,
    private readonly options: FaultSessionOptions = {},
  ) {
    this.left = plan.durationMs;
    this.now = options.now ?? Date.now;
  }

  get phase(): SessionPhase {
    return this.current;
  }

  /** The time the faults still have to run, in ms (all of it before injection; what a pause kept). */
  get remainingMs(): number {
    return this.current === 'injected' ? Math.max(0, this.left - (this.now() - this.injectedAt)) : this.left;
  }

  /** Injects the plan (pending) or the time left (paused). On failure: recovers what landed, ends `failed`, rethrows. */
  async inject(injected: Array<{ target: string; kind: string; phase: string }> = []): Promise<void> {
    if (this.current !== 'pending' && this.current !== 'paused') throw new SessionStateError(this.current, 'inject');
    try {
      await this.port.inject(this.uid, { ...this.plan, durationMs: this.left }, injected);
    } catch (error) {
      this.error = (error as Error).message;
      await this.port.recover(this.uid).catch(() => []);
      this.current = 'failed';
      throw error;
    }
    this.current = 'injected';
    this.injectedAt = this.now();
    if (this.options.onExpire) {
      const expire = this.options.onExpire;
      this.timer = setTimeout(() => expire(this), this.left);
    }
  }

  /** Chaos Mesh's pause: the faults are recovered, the time left kept (at least 1 s, as a resume must inject). */
  async pause(): Promise<void> {
    if (this.current !== 'injected') throw new SessionStateError(this.current, 'pause');
    clearTimeout(this.timer);
    this.left = Math.max(1_000, this.remainingMs);
    this.faults = await this.port.recover(this.uid);
    this.current = 'paused';
  }

  /** Injects a paused session again for the time it had left. */
  async resume(injected: Array<{ target: string; kind: string; phase: string }> = []): Promise<void> {
    if (this.current !== 'paused') throw new SessionStateError(this.current, 'resume');
    await this.inject(injected);
  }

  /**
   * Recovers the faults and ends the session: `recovered`, or `failed` when an undo failed. Idempotent: a
   * second call (or one racing the first) answers with the same records. A recovery that cannot reach the
   * agent rethrows and leaves the session as it was, so it can be tried again.
   */
  recover(): Promise<Fault[]> {
    if (this.current === 'recovered' || this.current === 'failed') return Promise.resolve(this.faults);
    clearTimeout(this.timer);
    return (this.recovering ??= this.port.recover(this.uid).then(
      (faults) => {
        this.faults = faults;
        const failed = faults.filter((f) => f.phase === 'failed');
        if (failed.length) this.error = failed.map((f) => `${f.kind} on ${f.targetId}: ${f.error}`).join('; ');
        this.current = failed.length ? 'failed' : 'recovered';
        return faults;
      },
      (error: unknown) => {
        this.recovering = undefined;
        throw error;
      },
    ));
  }

  /**
   * A Workflow chaos node: inject, hold for the plan's duration (or until `signal` aborts), recover whatever
   * happens. Returns the recovered faults.
   */
  async runFor(
    signal: AbortSignal,
    injected?: Array<{ target: string; kind: string; phase: string }>,
  ): Promise<Fault[]> {
    try {
      await this.inject(injected);
      await wait(this.plan.durationMs, signal);
    } finally {
      await this.recover();
    }
    return this.faults;
  }
}
