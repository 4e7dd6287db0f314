import { AdaptiveLimiter, type AdaptiveLimitOptions } from './adaptive-limit.ts';
import { countsAsFailure } from './circuit-breaker.ts';
import { ConcurrencyLimitError } from './errors.ts';
import { observed, publish } from './events.ts';
import { Pipeline, proceed, type Execution, type Scope, type Stage } from './policy.ts';

/** Options of {@link adaptiveConcurrency}: a limiter to share, or the options of a new one. */
export interface AdaptiveConcurrencyOptions extends AdaptiveLimitOptions {
  /** A limiter shared with other policies or the `loadShedding` plugin. Default: a new one from these options. */
  limiter?: AdaptiveLimiter;
  /**
   * Which errors tell the limiter the resource is overloaded (a drop). Default: the breaker's failure
   * predicate (timeouts, 5xx, connection errors; not 4xx or aborts, which teach it nothing).
   */
  isDrop?: (error: unknown) => boolean;
}

class LimitStage implements Stage {
  readonly limiter: AdaptiveLimiter;
  private readonly isDrop: (error: unknown) => boolean;
  private readonly shed = ConcurrencyLimitError.preallocated();

  constructor(options: AdaptiveConcurrencyOptions) {
    this.limiter = options.limiter ?? new AdaptiveLimiter(options);
    this.isDrop = options.isDrop ?? countsAsFailure;
  }

  run(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    const start = this.limiter.tryAcquire();
    if (start < 0) {
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish({ kind: 'shed', policy: this.limiter.name, limit: this.limiter.limit });
      return Promise.reject(this.shed);
    }
    return proceed(ex, next, scope, attempt).then(
      (value) => {
        this.limiter.release(start, 'success');
        return value;
      },
      (error: unknown) => {
        this.limiter.release(start, this.isDrop(error) ? 'dropped' : 'ignore');
        throw error;
      },
    );
  }
}

/** An adaptive concurrency policy: {@link Pipeline} plus its limiter. */
export class AdaptiveConcurrencyPolicy extends Pipeline {
  /** The limiter: its `limit`, `inFlight` and `onLimitChange`. */
  readonly limiter: AdaptiveLimiter;

  constructor(options: AdaptiveConcurrencyOptions) {
    const stage = new LimitStage(options);
    super([stage]);
    this.limiter = stage.limiter;
  }
}

/**
 * Lets at most the limiter's current limit of calls run at once and sheds the rest at once with one
 * preallocated `ConcurrencyLimitError` (`RES_ERR_CONCURRENCY_LIMIT`): unlike a bulkhead's fixed size, the
 * limit is learnt from latency and drops, so it shrinks when the upstream slows down and grows back after.
 */
export function adaptiveConcurrency(options: AdaptiveConcurrencyOptions = {}): AdaptiveConcurrencyPolicy {
  return new AdaptiveConcurrencyPolicy(options);
}
