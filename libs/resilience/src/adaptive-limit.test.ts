import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdaptiveLimiter, type LimitChangeEvent } from './adaptive-limit.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs `n` rounds of `concurrency` calls that each take `ms`, released in order. */
function load(limiter: AdaptiveLimiter, rounds: number, concurrency: number, ms: number): number {
  let shed = 0;
  for (let r = 0; r < rounds; r++) {
    const starts: number[] = [];
    for (let i = 0; i < concurrency; i++) {
      const s = limiter.tryAcquire();
      if (s < 0) shed++;
      else starts.push(s);
    }
    vi.advanceTimersByTime(ms);
    for (const s of starts) limiter.release(s, 'success');
  }
  return shed;
}

describe('AdaptiveLimiter', () => {
  it('admits calls up to the limit and sheds the rest until a place is given back', () => {
    const l = new AdaptiveLimiter({ initialLimit: 2 });
    const a = l.tryAcquire();
    const b = l.tryAcquire();
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(l.tryAcquire()).toBe(-1);
    expect(l.inFlight).toBe(2);
    l.release(a, 'ignore');
    expect(l.inFlight).toBe(1);
    expect(l.tryAcquire()).toBeGreaterThanOrEqual(0);
  });

  /**
   * A server that runs `capacity` calls at once in `baseMs`; more in flight share it (latency grows in
   * proportion). 100 callers keep asking; each round admits what the limiter allows.
   */
  function overload(l: AdaptiveLimiter, rounds: number, capacity: number, baseMs: () => number): number[] {
    const latencies: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const starts: number[] = [];
      for (let i = 0; i < 100; i++) {
        const s = l.tryAcquire();
        if (s >= 0) starts.push(s);
      }
      const ms = baseMs() * Math.max(1, starts.length / capacity);
      latencies.push(ms);
      vi.advanceTimersByTime(ms);
      for (const s of starts) l.release(s, 'success');
    }
    return latencies;
  }

  it('gradient: settles where latency is about tolerance x the no-load latency, not at 10x', () => {
    vi.advanceTimersByTime(1_000);
    const l = new AdaptiveLimiter({ initialLimit: 20, maxLimit: 500 });
    const lat = overload(l, 300, 10, () => 10);
    // Without a limit 100 in flight would take 100 ms. tolerance 1.5 + queueSize 4: about 19 in flight.
    const settled = lat.slice(-100);
    expect(Math.max(...settled)).toBeLessThanOrEqual(25);
    expect(l.limit).toBeGreaterThanOrEqual(10);
    expect(l.limit).toBeLessThanOrEqual(25);
  });

  it('gradient: relearns a no-load latency that rose for good (a slower dependency)', () => {
    vi.advanceTimersByTime(1_000);
    const l = new AdaptiveLimiter({ initialLimit: 20, maxLimit: 500, probeEvery: 500 });
    let base = 10;
    overload(l, 200, 10, () => base);
    base = 40;
    const lat = overload(l, 300, 10, () => base);
    // Not collapsed to the minimum by the old baseline: back near capacity, latency near 1.5-2x of 40 ms.
    expect(l.limit).toBeGreaterThanOrEqual(10);
    expect(Math.max(...lat.slice(-50))).toBeLessThanOrEqual(100);
  });

  it('gradient: does not grow on the samples of a caller using under half the limit', () => {
    const l = new AdaptiveLimiter({ initialLimit: 20 });
    load(l, 100, 5, 10);
    expect(l.limit).toBe(20);
  });

  it('aimd: grows by one per sample at half the limit or more, backs off on a drop or a slow call', () => {
    const l = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 10, slowMs: 100 });
    const starts = Array.from({ length: 5 }, () => l.tryAcquire());
    l.release(starts[0]!, 'success'); // 5 in flight, limit 10: grows
    expect(l.limit).toBe(11);
    l.release(starts[1]!, 'dropped');
    expect(l.limit).toBe(9); // 11 * 0.9 = 9.9
    vi.advanceTimersByTime(150);
    l.release(starts[2]!, 'success'); // slow: a drop
    expect(l.limit).toBe(8);
    l.release(starts[3]!, 'success'); // 2 in flight: under half the limit, no growth
    expect(l.limit).toBe(8);
  });

  it('stays between minLimit and maxLimit', () => {
    const l = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 3, minLimit: 2, maxLimit: 4 });
    for (let i = 0; i < 10; i++) l.release(l.tryAcquire(), 'dropped');
    expect(l.limit).toBe(2);
    for (let i = 0; i < 10; i++) {
      const s = [l.tryAcquire(), l.tryAcquire()];
      for (const x of s) if (x >= 0) l.release(x, 'success');
    }
    expect(l.limit).toBe(4);
  });

  it('tells subscribers when the whole-number limit moves', () => {
    const l = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 10 });
    const events: LimitChangeEvent[] = [];
    l.onLimitChange((e) => events.push(e));
    l.release(l.tryAcquire(), 'dropped');
    expect(events).toEqual([{ limit: 9, previous: 10 }]);
  });

  it('refuses options out of range, naming them', () => {
    expect(() => new AdaptiveLimiter({ minLimit: 0 })).toThrow(/minLimit/);
    expect(() => new AdaptiveLimiter({ minLimit: 5, maxLimit: 4 })).toThrow(/maxLimit/);
    expect(() => new AdaptiveLimiter({ initialLimit: 5000 })).toThrow(/initialLimit/);
    expect(() => new AdaptiveLimiter({ smoothing: 0 })).toThrow(/smoothing/);
    expect(() => new AdaptiveLimiter({ backoffRatio: 1 })).toThrow(/backoffRatio/);
    expect(() => new AdaptiveLimiter({ tolerance: Number.NaN })).toThrow(/tolerance/);
  });

  it('model: admits exactly while in-flight < limit, counts places exactly, keeps the limit in bounds', () => {
    type Op = { kind: 'acquire' } | { kind: 'release'; pick: number; outcome: 0 | 1 | 2; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant({ kind: 'acquire' as const }),
      fc.record({
        kind: fc.constant('release' as const),
        pick: fc.nat(),
        outcome: fc.constantFrom(0 as const, 1 as const, 2 as const),
        ms: fc.integer({ min: 0, max: 500 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('gradient' as const, 'aimd' as const),
        fc.array(op, { maxLength: 300 }),
        (alg, ops) => {
          const l = new AdaptiveLimiter({ algorithm: alg, initialLimit: 5, minLimit: 2, maxLimit: 50, slowMs: 200 });
          const held: number[] = [];
          for (const o of ops) {
            if (o.kind === 'acquire') {
              const expectAdmit = held.length < l.limit;
              const s = l.tryAcquire();
              expect(s >= 0).toBe(expectAdmit);
              if (s >= 0) held.push(s);
            } else if (held.length > 0) {
              vi.advanceTimersByTime(o.ms);
              const [s] = held.splice(o.pick % held.length, 1);
              l.release(s!, (['success', 'dropped', 'ignore'] as const)[o.outcome]);
            }
            expect(l.inFlight).toBe(held.length);
            expect(l.limit).toBeGreaterThanOrEqual(2);
            expect(l.limit).toBeLessThanOrEqual(50);
            expect(Number.isInteger(l.limit)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('AdaptiveLimiter arithmetic', () => {
  /** Holds `n` places, releases one after `ms`, then gives the others back without a sample. */
  function sample(l: AdaptiveLimiter, n: number, ms: number, outcome: 'success' | 'dropped' = 'success'): void {
    const starts = Array.from({ length: n }, () => l.tryAcquire());
    vi.advanceTimersByTime(ms);
    l.release(starts[0]!, outcome);
    for (const s of starts.slice(1)) l.release(s, 'ignore');
  }

  it('gradient: moves the estimate by the smoothed gradient, bounded to halving per step', () => {
    vi.advanceTimersByTime(1_000);
    const l = new AdaptiveLimiter({ initialLimit: 20 });
    sample(l, 20, 10); // baseline 10 ms; gradient 1: 20 × 0.8 + (20 + 4) × 0.2 = 20.8
    expect(l.limit).toBe(20);
    sample(l, 20, 100); // gradient max(0.5, 1.5 × 10 / 100): 20.8 × 0.8 + (10.4 + 4) × 0.2 = 19.52
    expect(l.limit).toBe(19);
    sample(l, 19, 12); // within tolerance (1.5 × 10 ≥ 12): gradient 1, 19.52 × 0.8 + 23.52 × 0.2 = 20.32
    expect(l.limit).toBe(20);
  });

  it('gradient: probes the no-load latency every probeEvery samples by dropping to queueSize', () => {
    vi.advanceTimersByTime(1_000);
    const l = new AdaptiveLimiter({ initialLimit: 20, probeEvery: 3, queueSize: 4 });
    sample(l, 20, 10);
    sample(l, 20, 10);
    expect(l.limit).toBeGreaterThan(4);
    sample(l, 20, 10);
    expect(l.limit).toBe(4);
  });

  it('aimd: a call exactly slowMs long is not a drop; one longer is', () => {
    const l = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 10, slowMs: 100 });
    sample(l, 5, 100);
    expect(l.limit).toBe(11);
    sample(l, 6, 101);
    expect(l.limit).toBe(9);
  });

  it('names each option it refuses', () => {
    for (const [opts, name] of [
      [{ tolerance: 0.5 }, 'tolerance'],
      [{ probeEvery: 0 }, 'probeEvery'],
      [{ queueSize: -1 }, 'queueSize'],
      [{ slowMs: 0 }, 'slowMs'],
      [{ smoothing: 1.5 }, 'smoothing'],
      [{ backoffRatio: 0 }, 'backoffRatio'],
    ] as const) {
      expect(() => new AdaptiveLimiter(opts)).toThrow(`AdaptiveLimiter: ${name} is out of range`);
    }
    expect(
      () => new AdaptiveLimiter({ minLimit: 1, maxLimit: 1, initialLimit: 1, smoothing: 1, queueSize: 0 }),
    ).not.toThrow();
  });
});
