import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CountWindow, TimeWindow } from './breaker-window.ts';
import { circuitBreaker, CircuitState, type CircuitBreakerPolicy } from './circuit-breaker.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const fail = (): Promise<never> => Promise.reject(new Error('upstream down'));
const ok = (): Promise<string> => Promise.resolve('ok');
const slow = (ms: number) => (): Promise<string> => new Promise((r) => setTimeout(() => r('late'), ms));
const run = (b: CircuitBreakerPolicy, fn: () => Promise<unknown>): Promise<unknown> =>
  b.execute(fn).catch((e: unknown) => e);
/** Runs a call that answers after `ms` (fake time) to its end; resolves what the caller got. */
const runSlow = async (b: CircuitBreakerPolicy, ms: number): Promise<unknown> => {
  const p = run(b, slow(ms));
  await vi.advanceTimersByTimeAsync(ms);
  return p;
};

describe('circuit breaker modes', () => {
  it('consecutive: opens after N failures in a row; a success in between starts the count again', async () => {
    const b = circuitBreaker({ mode: 'consecutive', consecutiveFailures: 3, minimumVolume: 1_000 });
    await run(b, fail);
    await run(b, fail);
    await run(b, ok);
    await run(b, fail);
    await run(b, fail);
    expect(b.state).toBe(CircuitState.Closed);
    await run(b, fail);
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });

  it('count-window: judges the failure rate of the last N calls only', async () => {
    const b = circuitBreaker({ mode: 'count-window', windowSize: 10, minimumVolume: 10, failureRateThreshold: 50 });
    for (let i = 0; i < 4; i++) await run(b, fail);
    for (let i = 0; i < 16; i++) await run(b, ok); // the 4 failures have left the window
    for (let i = 0; i < 4; i++) await run(b, fail);
    expect(b.state).toBe(CircuitState.Closed); // 4 of the last 10
    await run(b, fail);
    expect(b.state).toBe(CircuitState.Open); // 5 of the last 10: 50 %
    b.dispose();
  });

  it('count-window: waits for minimumVolume calls before judging', async () => {
    const b = circuitBreaker({ mode: 'count-window', windowSize: 10, minimumVolume: 5 });
    for (let i = 0; i < 4; i++) await run(b, fail);
    expect(b.state).toBe(CircuitState.Closed);
    await run(b, fail);
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });

  it('slow calls: opens when the share of calls at least slowCallMs reaches the threshold', async () => {
    const b = circuitBreaker({ slowCallMs: 100, slowCallRateThreshold: 50, minimumVolume: 4, windowMs: 10_000 });
    for (let i = 0; i < 4; i++) await run(b, ok);
    for (let i = 0; i < 3; i++) {
      expect(await runSlow(b, 150)).toBe('late'); // slow calls still answer
    }
    expect(b.state).toBe(CircuitState.Closed); // 3 of 7 < 50 %
    await runSlow(b, 100); // exactly slowCallMs counts as slow
    expect(b.state).toBe(CircuitState.Open); // 4 of 8
    b.dispose();
  });

  it('slow calls in the count window; after a recovery the window starts empty', async () => {
    const b = circuitBreaker({
      mode: 'count-window',
      windowSize: 4,
      minimumVolume: 4,
      slowCallMs: 50,
      slowCallRateThreshold: 75,
      resetTimeoutMs: 1_000,
    });
    for (let i = 0; i < 3; i++) {
      await runSlow(b, 60);
    }
    await run(b, ok);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(b.state).toBe(CircuitState.HalfOpen);
    await run(b, ok);
    expect(b.state).toBe(CircuitState.Closed);
    for (let i = 0; i < 2; i++) {
      await runSlow(b, 60);
    }
    await run(b, ok);
    await run(b, ok);
    expect(b.state).toBe(CircuitState.Closed); // 2 of 4 since closing, not 5 of 8
    b.dispose();
  });

  it('half-open: probes as slow as slowCallMs do not close it; at the slow-call rate of the probes it reopens', async () => {
    const b = circuitBreaker({
      mode: 'count-window',
      windowSize: 2,
      minimumVolume: 2,
      slowCallMs: 50,
      slowCallRateThreshold: 50,
      halfOpenProbes: 2,
      resetTimeoutMs: 1_000,
    });
    expect(await runSlow(b, 60)).toBe('late');
    expect(await runSlow(b, 60)).toBe('late');
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(b.state).toBe(CircuitState.HalfOpen);
    // Two probes at once: the first answers fast, the second slowly (1 of 2 probes slow = 50 %): it reopens.
    const fast = run(b, ok);
    const lagging = run(b, slow(60));
    expect(await fast).toBe('ok');
    expect(b.state).toBe(CircuitState.HalfOpen);
    await vi.advanceTimersByTimeAsync(60);
    expect(await lagging).toBe('late'); // the caller still gets its answer
    expect(b.state).toBe(CircuitState.Open);
    // Probes that are fast close it.
    await vi.advanceTimersByTimeAsync(1_000);
    await run(b, ok);
    await run(b, ok);
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('half-open: below the slow-call rate, a slow probe still counts as a success', async () => {
    const b = circuitBreaker({
      mode: 'count-window',
      windowSize: 2,
      minimumVolume: 2,
      slowCallMs: 50,
      slowCallRateThreshold: 100,
      halfOpenProbes: 2,
      resetTimeoutMs: 1_000,
    });
    for (let i = 0; i < 2; i++) {
      await runSlow(b, 60);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    await runSlow(b, 60);
    expect(b.state).toBe(CircuitState.HalfOpen); // 1 of 2 slow < 100 %
    await run(b, ok);
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('a call that settles after the breaker opened is not judged again', async () => {
    const b = circuitBreaker({ mode: 'consecutive', consecutiveFailures: 2, resetTimeoutMs: 1_000 });
    const late = run(b, () => new Promise((_r, reject) => setTimeout(() => reject(new Error('late')), 10)));
    await run(b, fail);
    await run(b, fail);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(10);
    await late;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(b.state).toBe(CircuitState.HalfOpen);
    b.dispose();
  });

  it('refuses nonsense options, naming them', () => {
    expect(() => circuitBreaker({ mode: 'sliding' as never })).toThrow(/mode/);
    expect(() => circuitBreaker({ slowCallMs: 0 })).toThrow(/slowCallMs/);
    expect(() => circuitBreaker({ mode: 'consecutive', consecutiveFailures: 0 })).toThrow(/consecutiveFailures/);
    expect(() => circuitBreaker({ mode: 'count-window', windowSize: 0 })).toThrow(/window size/);
  });
});

describe('breaker windows', () => {
  it('CountWindow keeps exactly the last N outcomes', () => {
    const w = new CountWindow(3);
    w.record(true, true);
    w.record(false, false);
    w.record(true, false);
    expect([w.calls, w.failures, w.slow]).toEqual([3, 2, 1]);
    w.record(false, false); // the first (failed, slow) leaves
    expect([w.calls, w.failures, w.slow]).toEqual([3, 1, 0]);
    w.reset();
    expect([w.calls, w.failures, w.slow]).toEqual([0, 0, 0]);
  });

  it('TimeWindow forgets the buckets older than its span', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(true, false);
    vi.advanceTimersByTime(500);
    w.record(false, true);
    expect([w.calls, w.failures, w.slow]).toEqual([2, 1, 1]);
    vi.advanceTimersByTime(600); // the first bucket left
    w.advance();
    expect([w.calls, w.failures, w.slow]).toEqual([1, 0, 1]);
    vi.advanceTimersByTime(5_000);
    w.advance();
    expect([w.calls, w.failures, w.slow]).toEqual([0, 0, 0]);
  });
});

describe('breaker window validation', () => {
  it('names what it refuses', () => {
    expect(() => new CountWindow(1.5)).toThrow('window size must be an integer >= 1, got 1.5');
    expect(() => new TimeWindow(0, 10)).toThrow(
      'time window needs ms > 0 and an integer bucket count >= 1, got 0 / 10',
    );
    expect(() => new TimeWindow(1_000, 0)).toThrow(/bucket count/);
  });

  it('consecutive mode still judges slow calls over the last windowSize calls', async () => {
    const b = circuitBreaker({ mode: 'consecutive', slowCallMs: 10, minimumVolume: 2, windowSize: 2 });
    for (let i = 0; i < 2; i++) {
      await runSlow(b, 10);
    }
    expect(b.state).toBe(CircuitState.Open); // slowCallRateThreshold defaults to 100 %
    b.dispose();
  });

  it('judges nothing while isolated', async () => {
    const b = circuitBreaker({ mode: 'consecutive', consecutiveFailures: 1 });
    const h = b.isolate();
    await run(b, fail);
    h.dispose();
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });
});
