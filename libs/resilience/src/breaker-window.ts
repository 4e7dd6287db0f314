import { now } from './clock.ts';

/** What a breaker window holds: calls, failed calls and slow calls, over the last N calls or T ms. */
export interface OutcomeWindow {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
  /** Records one finished call. */
  record(failure: boolean, slow: boolean): void;
  /** Forgets everything (the breaker closed after a recovery). */
  reset(): void;
}

/** The last `size` calls, in a ring: O(1) per call, fixed memory. */
export class CountWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  slow = 0;
  /** Bit 1: failed, bit 2: slow. */
  private readonly ring: Uint8Array;
  private index = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be an integer >= 1, got ${size}`);
    this.ring = new Uint8Array(size);
  }

  record(failure: boolean, slow: boolean): void {
    if (this.calls === this.ring.length) {
      const old = this.ring[this.index]!;
      this.failures -= old & 1;
      this.slow -= old >> 1;
    } else this.calls++;
    const bits = (failure ? 1 : 0) | (slow ? 2 : 0);
    this.ring[this.index] = bits;
    this.failures += bits & 1;
    this.slow += bits >> 1;
    this.index = (this.index + 1) % this.ring.length;
  }

  reset(): void {
    this.ring.fill(0);
    this.calls = this.failures = this.slow = this.index = 0;
  }
}

/** The calls of the last `ms`, in `buckets` time buckets (a bucket's calls leave together). */
export class TimeWindow implements OutcomeWindow {
  calls = 0;
  failures = 0;
  slow = 0;
  private readonly counts: Float64Array;
  private readonly bucketMs: number;
  private readonly n: number;
  private bucket = -1;

  constructor(ms: number, buckets: number) {
    if (!(ms > 0) || !Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`time window needs ms > 0 and an integer bucket count >= 1, got ${ms} / ${buckets}`);
    }
    this.n = buckets;
    this.bucketMs = ms / buckets;
    this.counts = new Float64Array(buckets * 3);
  }

  record(failure: boolean, slow: boolean): void {
    this.advance();
    const i = (this.bucket % this.n) * 3;
    this.counts[i]!++;
    this.calls++;
    if (failure) {
      this.counts[i + 1]!++;
      this.failures++;
    }
    if (slow) {
      this.counts[i + 2]!++;
      this.slow++;
    }
  }

  /** Drops the buckets that left the window; the sums then describe the last `ms`. */
  advance(): void {
    const b = Math.floor(now() / this.bucketMs);
    if (b === this.bucket) return;
    const stale = this.bucket < 0 ? this.n : Math.min(this.n, b - this.bucket);
    for (let k = 1; k <= stale; k++) {
      const i = ((((this.bucket + k) % this.n) + this.n) % this.n) * 3;
      this.calls -= this.counts[i]!;
      this.failures -= this.counts[i + 1]!;
      this.slow -= this.counts[i + 2]!;
      this.counts[i] = this.counts[i + 1] = this.counts[i + 2] = 0;
    }
    this.bucket = b;
  }

  reset(): void {
    this.counts.fill(0);
    this.calls = this.failures = this.slow = 0;
  }
}
