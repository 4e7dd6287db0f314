/** Details of the breaker a copy could break without the main tests noticing: defaults, names, events, timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { circuitBreaker, CircuitState, type StateChangeEvent } from './circuit-breaker.ts';
import { BrokenCircuitError } from './errors.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const fail = (): Promise<never> => Promise.reject(new Error('down'));
const ok = (): Promise<string> => Promise.resolve('ok');

describe('circuit breaker details', () => {
  it('is named "breaker" by default and says its name when failing fast', async () => {
    const anonymous = circuitBreaker();
    expect(anonymous.name).toBe('breaker');
    anonymous.dispose();
    const b = circuitBreaker({ name: 'users' });
    const handle = b.isolate();
    const e = await b.execute(ok).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BrokenCircuitError);
    expect((e as Error).message).toBe('circuit breaker users is open: the call was not attempted');
    handle.dispose();
    b.dispose();
  });

  it('honours a failure-rate threshold below the default', async () => {
    const b = circuitBreaker({ failureRateThreshold: 20, minimumVolume: 10 });
    for (let i = 0; i < 7; i++) await b.execute(ok);
    for (let i = 0; i < 3; i++) await b.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });

  it('forgets failures older than its window', async () => {
    const b = circuitBreaker({ windowMs: 1_000, windowBuckets: 10, minimumVolume: 4 });
    for (let i = 0; i < 3; i++) await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(1_500);
    for (let i = 0; i < 3; i++) await b.execute(ok);
    await b.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Closed); // 1 of 4 in the window, not 4 of 7
    b.dispose();
  });

  it('reports each transition once, never from a state to itself', async () => {
    const b = circuitBreaker();
    const events: StateChangeEvent[] = [];
    b.onStateChange((e) => events.push(e));
    const h1 = b.isolate();
    const h2 = b.isolate();
    h1.dispose();
    h1.dispose();
    expect(events).toEqual([{ name: 'breaker', from: 0, to: 1 }]);
    h2.dispose();
    expect(events).toEqual([
      { name: 'breaker', from: 0, to: 1 },
      { name: 'breaker', from: 1, to: 0 },
    ]);
    b.dispose();
  });

  it('with two probes: not accepting while one succeeded and the other is out', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100, halfOpenProbes: 2 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    expect(b.state).toBe(CircuitState.HalfOpen);
    expect(b.accepting).toBe(true);
    await b.execute(ok);
    let release!: () => void;
    const pending = b.execute(() => new Promise<void>((r) => (release = r)));
    expect(b.accepting).toBe(false);
    release();
    await pending;
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('a probe whose caller aborted is over for the breaker: its late success does not close it', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100, halfOpenProbes: 1 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    const caller = new AbortController();
    let release!: () => void;
    const probe = b
      .execute(() => new Promise<void>((r) => (release = r)), { signal: caller.signal })
      .catch(() => undefined);
    caller.abort(new DOMException('caller left', 'AbortError'));
    await probe;
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.state).toBe(CircuitState.HalfOpen);
    b.dispose();
  });

  it('a probe from an earlier half-open period does not close the breaker in a later one', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100, halfOpenProbes: 1, maxHalfOpenMs: 500 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    let release!: () => void;
    void b.execute(() => new Promise<void>((r) => (release = r)));
    await vi.advanceTimersByTimeAsync(500); // still out: the breaker opens again
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(100);
    expect(b.state).toBe(CircuitState.HalfOpen);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.state).toBe(CircuitState.HalfOpen);
    b.dispose();
  });

  it('reopens when a probe fails', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    await b.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });

  it('stops its timers when disposed', async () => {
    const before = vi.getTimerCount();
    const b = circuitBreaker();
    expect(vi.getTimerCount()).toBeGreaterThan(before);
    b.dispose();
    expect(vi.getTimerCount()).toBe(before);
  });
});
