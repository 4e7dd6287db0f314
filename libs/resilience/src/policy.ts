import { now } from './clock.ts';
import { ambientDeadline } from './deadline-context.ts';
import { DeadlineExceededError } from './errors.ts';

/** What the protected function receives. */
export interface PolicyContext {
  /**
   * Aborts when the caller aborts or a timeout around this attempt elapses. Created lazily: an operation
   * that never reads it pays no AbortController cost.
   */
  readonly signal: AbortSignal;
  /** 1 for the first call, 2 for the first retry, and so on. */
  readonly attempt: number;
  /** Absolute deadline on the {@link now} clock (ms), or `Infinity` when none applies. */
  readonly deadline: number;
}

/** Options of one execution. */
export interface ExecuteOptions {
  /** The caller's cancellation: honoured while queued, waiting to retry, or running. */
  signal?: AbortSignal;
  /**
   * An absolute deadline on the {@link now} clock (ms), e.g. from {@link deadlineFromHeaders}. Timeouts inside
   * shrink to it, retries that cannot finish before it are skipped, and work past it is not started. The
   * ambient request deadline ({@link withDeadline}, the fastify `deadlines` plugin) applies too: the
   * earlier of the two wins.
   */
  deadline?: number;
}

/**
 * The one interface of every policy and of a composed pipeline. `R` is what the policy may answer instead of
 * the function's own result (a fallback's value); `never` for every other policy.
 */
export interface Policy<R = never> {
  /** Runs `fn` under this policy. */
  execute<T>(fn: (context: PolicyContext) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T | R>;
}

/** A never-aborting signal, shared by every context that has nothing to abort. */
const NEVER = new AbortController().signal;

/**
 * The per-execution state a pipeline's stages share. Internal: stages read it, callers never see it.
 * @internal
 */
export interface Execution {
  readonly fn: (context: PolicyContext) => unknown;
  readonly stages: readonly Stage[];
  readonly callerSignal: AbortSignal | undefined;
  readonly deadline: number;
}

/**
 * A cancellation scope opened by a timeout (or by an execution's deadline). Its AbortController exists only
 * once someone reads `signal`; on expiry it is aborted if it exists.
 * @internal
 */
export class Scope {
  private controller: AbortController | undefined;
  private unlink: (() => void) | undefined;
  /** Set once the scope expired; the reason its signal carries. */
  expired: unknown = undefined;
  settled = false;

  readonly parent: Scope | undefined;
  readonly callerSignal: AbortSignal | undefined;
  readonly deadline: number;

  constructor(parent: Scope | undefined, callerSignal: AbortSignal | undefined, deadline: number) {
    this.parent = parent;
    this.callerSignal = callerSignal;
    this.deadline = deadline;
  }

  /** The signal of this scope, linked to the enclosing scope or the caller. */
  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = (this.controller = new AbortController());
    if (this.expired !== undefined) {
      controller.abort(this.expired);
      return controller.signal;
    }
    const outer = this.parent ? this.parent.signal : this.callerSignal;
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else {
        const onAbort = (): void => controller.abort(outer.reason);
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
        outer.addEventListener('abort', onAbort, { once: true });
        this.unlink = () => outer.removeEventListener('abort', onAbort);
      }
    }
    return controller.signal;
  }

  /** True when this scope or any enclosing one has expired. */
  get done(): boolean {
    return this.expired !== undefined || (this.parent?.done ?? false);
  }

  /** Marks the scope expired and aborts its signal, if one was handed out. */
  expire(reason: unknown): void {
    this.expired = reason;
    this.unlink?.();
    this.controller?.abort(reason);
  }

  /** Releases the link to the outer signal once the scope's work is over. */
  release(): void {
    this.settled = true;
    if (this.unlink) {
      this.unlink();
      this.unlink = undefined;
    }
  }
}

/** The context handed to one attempt of the protected function. */
class AttemptContext implements PolicyContext {
  private readonly ex: Execution;
  private readonly scope: Scope | undefined;
  readonly attempt: number;

  constructor(ex: Execution, scope: Scope | undefined, attempt: number) {
    this.ex = ex;
    this.scope = scope;
    this.attempt = attempt;
  }
  get signal(): AbortSignal {
    return this.scope ? this.scope.signal : (this.ex.callerSignal ?? NEVER);
  }
  get deadline(): number {
    return this.scope ? Math.min(this.scope.deadline, this.ex.deadline) : this.ex.deadline;
  }
}

/**
 * One step of a pipeline. A stage does its part and calls {@link proceed} with `next` to run the rest.
 * @internal
 */
export interface Stage {
  run(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown>;
}

/**
 * Runs the stages from index `i` on, then the protected function.
 * @internal
 */
export function proceed(ex: Execution, i: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
  if (i < ex.stages.length) return ex.stages[i]!.run(ex, i + 1, scope, attempt);
  try {
    return Promise.resolve(ex.fn(new AttemptContext(ex, scope, attempt)));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** True when the caller aborted or an enclosing timeout expired: no further work should start. */
export function cancelled(ex: Execution, scope: Scope | undefined): boolean {
  return (ex.callerSignal?.aborted ?? false) || (scope !== undefined && scope.done);
}

/** The reason to reject with once {@link cancelled} is true. */
export function cancelReason(ex: Execution, scope: Scope | undefined): unknown {
  for (let s = scope; s; s = s.parent) if (s.expired !== undefined) return s.expired;
  return ex.callerSignal?.reason;
}

/** A policy made of stages; every factory returns one, and `compose()` concatenates them. */
export class Pipeline<R = never> implements Policy<R> {
  /** @internal */
  readonly stages: readonly Stage[];
  /**
   * Type only (undefined at run time): what this pipeline may answer instead of the function's result, so
   * `compose` can carry a fallback's value type (see {@link Policy}).
   */
  declare readonly answerType: R;

  constructor(stages: readonly Stage[]) {
    this.stages = stages;
  }

  execute<T>(fn: (context: PolicyContext) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T | R> {
    // The shared never-aborting signal (handed to functions that have nothing to abort) needs no listener.
    const signal = options?.signal === NEVER ? undefined : options?.signal;
    const ambient = ambientDeadline();
    const own = options?.deadline;
    const deadline = own === undefined || ambient < own ? ambient : own;
    const ex: Execution = { fn, stages: this.stages, callerSignal: signal, deadline };
    if (deadline === Infinity) {
      if (signal === undefined) return proceed(ex, 0, undefined, 1) as Promise<T | R>;
      if (signal.aborted) return Promise.reject(signal.reason);
      return raceAbort(proceed(ex, 0, undefined, 1) as Promise<T | R>, signal);
    }
    return runWithDeadline(ex, deadline) as Promise<T | R>;
  }
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** An execution with an absolute deadline: a scope that expires at it, over the whole pipeline. */
function runWithDeadline(ex: Execution, deadline: number): Promise<unknown> {
  const left = deadline - now();
  if (left <= 0) return Promise.reject(new DeadlineExceededError());
  if (ex.callerSignal?.aborted) return Promise.reject(ex.callerSignal.reason);
  const scope = new Scope(undefined, ex.callerSignal, deadline);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => finish(false, ex.callerSignal!.reason);
    const timer = setTimeout(() => {
      const err = new DeadlineExceededError('deadline exceeded while the call was running');
      scope.expire(err);
      finish(false, err);
    }, Math.ceil(left));
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
    ex.callerSignal?.addEventListener('abort', onAbort, { once: true });
    function finish(ok: boolean, value: unknown): void {
      if (scope.settled) return;
      scope.release();
      clearTimeout(timer);
      ex.callerSignal?.removeEventListener('abort', onAbort);
      if (ok) resolve(value);
      else reject(value);
    }
    proceed(ex, 0, scope, 1).then(
      (v) => finish(true, v),
      (e: unknown) => finish(false, e),
    );
  });
}
