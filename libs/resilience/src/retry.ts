import { exponentialBackoff, type Backoff } from './backoff.ts';
import { now, sleep } from './clock.ts';
import { ErrorCodes, isResilienceError, isShed, statusOf } from './errors.ts';
import { observed, publish, type GiveUpEvent } from './events.ts';

export type { GiveUpEvent };
import { Emitter, type Subscribe } from './event.ts';
import { Pipeline, cancelReason, cancelled, proceed, type Execution, type Scope, type Stage } from './policy.ts';
import type { RetryBudget } from './retry-budget.ts';

/** Options of {@link retry}. */
export interface RetryOptions {
  /**
   * Total number of calls, **counting the first one**: `maxAttempts: 3` means one call and up to two retries.
   * Default 3.
   */
  maxAttempts?: number;
  /** Delays between attempts. Default: exponential, 100 ms doubling to 10 s, full jitter. */
  backoff?: Backoff;
  /** A name for events. Default `retry`. */
  name?: string;
  /** Which errors are worth another attempt. Default {@link isTransientError}. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** A shared budget that caps retries to a ratio of recent requests. Default: none. */
  budget?: RetryBudget;
  /**
   * The longest `Retry-After` we accept, in ms: a server that asks for more is not retried (its answer is
   * returned). Default 30 000.
   */
  maxRetryAfterMs?: number;
}

/** Emitted before each retry. */
export interface RetryEvent {
  /** The attempt that just failed (1 = the first call). */
  attempt: number;
  /** How long we wait before the next attempt, in ms. */
  delayMs: number;
  error: unknown;
}

const CONNECTION_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * The default retry predicate: connection errors, HTTP 502/503/504/429 and timeouts. Never a breaker's
 * fast-fail, a bulkhead rejection or an upstream's load shedding (`isShed`: retrying those only adds load
 * and latency), never a deadline already exceeded, never an abort.
 */
export function isTransientError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (isResilienceError(error)) {
    return (
      error.code === ErrorCodes.TIMEOUT ||
      (error.code === ErrorCodes.HTTP_STATUS && isRetryableStatus(error) && !isShed(error))
    );
  }
  const status = statusOf(error);
  if (status !== undefined) return RETRYABLE_STATUS.has(status);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true;
  // undici wraps the socket error of fetch() in a TypeError with a cause.
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isTransientError(cause);
}

function isRetryableStatus(error: unknown): boolean {
  const status = statusOf(error);
  return status !== undefined && RETRYABLE_STATUS.has(status);
}

/** The server-requested wait carried by an error (`retryAfterMs`), if any. */
function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const v = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

class RetryStage implements Stage {
  readonly retries = new Emitter<RetryEvent>();
  readonly giveUps = new Emitter<GiveUpEvent>();
  private readonly maxAttempts: number;
  private readonly backoff: Backoff;
  private readonly shouldRetry: (error: unknown, attempt: number) => boolean;
  private readonly budget: RetryBudget | undefined;
  private readonly maxRetryAfterMs: number;
  private readonly name: string;

  constructor(options: RetryOptions) {
    this.maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new RangeError(
        `retry: maxAttempts counts the first call and must be an integer >= 1, got ${this.maxAttempts}`,
      );
    }
    this.backoff = options.backoff ?? exponentialBackoff();
    this.shouldRetry = options.shouldRetry ?? isTransientError;
    this.budget = options.budget;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.name = options.name ?? 'retry';
  }

  run(ex: Execution, next: number, scope: Scope | undefined, _attempt: number): Promise<unknown> {
    this.budget?.recordRequest();
    // Promise chaining rather than an async loop: the success path then costs one `.then` (~45 ns less).
    return proceed(ex, next, scope, 1).then(undefined, (error: unknown) =>
      this.onFailure(ex, next, scope, error, 1, 0),
    );
  }

  private onFailure(
    ex: Execution,
    next: number,
    scope: Scope | undefined,
    error: unknown,
    attempt: number,
    previousDelay: number,
  ): Promise<unknown> {
    if (attempt >= this.maxAttempts) throw error;
    const delay = this.nextDelay(ex, scope, error, attempt, previousDelay);
    if (delay === undefined) throw error;
    if (this.retries.hasListeners) this.retries.emit({ attempt, delayMs: delay, error });
    // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
    if (observed()) publish({ kind: 'retry', policy: this.name, attempt, delayMs: delay, error });
    return sleep(delay, ex.callerSignal).then(() => {
      if (cancelled(ex, scope)) throw cancelReason(ex, scope);
      return proceed(ex, next, scope, attempt + 1).then(undefined, (e: unknown) =>
        this.onFailure(ex, next, scope, e, attempt + 1, delay),
      );
    });
  }

  /** The wait before the next attempt, or undefined (with a give-up event) when there must be none. */
  private nextDelay(
    ex: Execution,
    scope: Scope | undefined,
    error: unknown,
    attempt: number,
    previousDelay: number,
  ): number | undefined {
    let reason: GiveUpEvent['reason'];
    if (cancelled(ex, scope)) reason = 'cancelled';
    else if (!this.shouldRetry(error, attempt)) reason = 'not-retryable';
    else {
      const asked = retryAfterOf(error);
      const delay = Math.max(this.backoff.delay(attempt, previousDelay), asked ?? 0);
      const deadline = Math.min(scope ? scope.deadline : Infinity, ex.deadline);
      if (asked !== undefined && asked > this.maxRetryAfterMs) reason = 'retry-after-too-long';
      else if (now() + delay >= deadline) reason = 'deadline';
      else if (this.budget && !this.budget.tryAcquireRetry()) reason = 'budget-exhausted';
      else return delay;
    }
    if (this.giveUps.hasListeners) this.giveUps.emit({ attempt, reason, error });
    // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
    if (observed()) publish({ kind: 'give-up', policy: this.name, attempt, reason, error });
    return undefined;
  }
}

/** A retry policy: {@link Pipeline} plus its events. */
export class RetryPolicy extends Pipeline {
  /** Subscribes to each retry about to happen. */
  readonly onRetry: Subscribe<RetryEvent>;
  /** Subscribes to errors returned although attempts remained (budget, deadline, predicate, Retry-After). */
  readonly onGiveUp: Subscribe<GiveUpEvent>;

  constructor(options: RetryOptions) {
    const stage = new RetryStage(options);
    super([stage]);
    this.onRetry = stage.retries.subscribe;
    this.onGiveUp = stage.giveUps.subscribe;
  }
}

/**
 * Retries failed attempts with backoff. It honours `Retry-After` (an error's `retryAfterMs`), skips a retry
 * that could not finish before the deadline, respects a shared {@link RetryBudget}, stops as soon as the
 * caller aborts, and by default never retries a breaker's or bulkhead's rejection.
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  return new RetryPolicy(options);
}
