/** How the delay before each retry is randomised. */
export type Jitter =
  /** `random(0, min(cap, base × multiplier^n))`: the AWS "full jitter"; the best spread under contention. */
  | 'full'
  /** `min(cap, random(base, previous × 3))`: the AWS "decorrelated jitter"; grows like exponential on average. */
  | 'decorrelated'
  /** `min(cap, base × multiplier^n)`: no randomness (tests, or a single client). */
  | 'none';

/** Options of {@link exponentialBackoff}. */
export interface BackoffOptions {
  /** Delay before the first retry (before jitter), in ms. Default 100. */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms. Default 10 000. */
  maxDelayMs?: number;
  /** Growth factor per retry. Default 2. */
  multiplier?: number;
  /** Randomisation. Default `'full'`. */
  jitter?: Jitter;
  /** Source of randomness in [0, 1). Default `Math.random`; pass a seeded one to replay a run. */
  random?: () => number;
}

/** Computes retry delays. `retry` is the number of the retry about to happen (1 for the first). */
export interface Backoff {
  delay(retry: number, previousDelayMs: number): number;
}

/** Exponential backoff with a cap and a choice of jitter. */
export function exponentialBackoff(options: BackoffOptions = {}): Backoff {
  const base = options.initialDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 10_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 'full';
  const random = options.random ?? Math.random;
  if (!(base >= 0) || !(cap >= base) || !(multiplier >= 1)) {
    throw new RangeError(
      `exponentialBackoff: need 0 <= initialDelayMs <= maxDelayMs and multiplier >= 1, got ${base}, ${cap}, ${multiplier}`,
    );
  }
  return {
    delay(retry, previous) {
      const exp = Math.min(cap, base * multiplier ** (retry - 1));
      switch (jitter) {
        case 'none':
          return exp;
        case 'full':
          return random() * exp;
        case 'decorrelated': {
          const prev = previous > 0 ? previous : base;
          return Math.min(cap, base + random() * (prev * 3 - base));
        }
      }
    },
  };
}

/** A fixed delay between retries, in ms. */
export function constantBackoff(delayMs: number): Backoff {
  return { delay: () => delayMs };
}
