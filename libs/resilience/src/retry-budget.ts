import { now } from './clock.ts';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed as a fraction of the requests seen in the window. Default 0.2 (20%). */
  ratio?: number;
  /** Retries always allowed per second, so a quiet client can still retry. Default 10. */
  minRetriesPerSecond?: number;
  /** Length of the sliding window, in ms. Default 10 000. */
  windowMs?: number;
}

const BUCKETS = 10;

/**
 * Limits retries to a ratio of recent requests (Finagle's and tower's retry budget), so that retries cannot
 * multiply the load on a failing upstream. Share one budget between every retry policy that calls the same
 * upstream. Counting is O(1) per call with fixed memory: a window of 10 buckets.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private requestSum = 0;
  private retrySum = 0;
  private bucket = -1;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.2;
    const windowMs = options.windowMs ?? 10_000;
    this.reserve = ((options.minRetriesPerSecond ?? 10) * windowMs) / 1000;
    this.bucketMs = windowMs / BUCKETS;
    if (!(this.ratio >= 0) || !(windowMs > 0) || !(this.reserve >= 0)) {
      throw new RangeError('RetryBudget: ratio, minRetriesPerSecond must be >= 0 and windowMs > 0');
    }
  }

  /** Counts one original request (not a retry). */
  recordRequest(): void {
    this.advance();
    this.requests[this.bucket % BUCKETS]!++;
    this.requestSum++;
  }

  /** Takes one retry from the budget; false when the budget is spent (the caller must not retry). */
  tryAcquireRetry(): boolean {
    this.advance();
    if (this.retrySum + 1 > this.reserve + this.ratio * this.requestSum) return false;
    this.retries[this.bucket % BUCKETS]!++;
    this.retrySum++;
    return true;
  }

  /** Retries still allowed right now. */
  get available(): number {
    this.advance();
    return Math.max(0, Math.floor(this.reserve + this.ratio * this.requestSum - this.retrySum));
  }

  private advance(): void {
    const b = Math.floor(now() / this.bucketMs);
    if (b === this.bucket) return;
    // Clear every bucket that fell out of the window since the last call (all of them after a long pause).
    const stale = this.bucket < 0 ? BUCKETS : Math.min(BUCKETS, b - this.bucket);
    for (let k = 1; k <= stale; k++) {
      const i = (this.bucket + k) % BUCKETS;
      const idx = i < 0 ? i + BUCKETS : i;
      this.requestSum -= this.requests[idx]!;
      this.retrySum -= this.retries[idx]!;
      this.requests[idx] = 0;
      this.retries[idx] = 0;
    }
    this.bucket = b;
  }
}
