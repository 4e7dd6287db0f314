import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.ts';
import { circuitBreaker, CircuitState, countsAsFailure, type StateChangeEvent } from './circuit-breaker.ts';
import { compose } from './compose.ts';
import { BrokenCircuitError, BulkheadRejectedError, ErrorCodes, isResilienceError } from './errors.ts';
import { retry } from './retry.ts';
import { timeout } from './timeout.ts';
import { TimeoutError } from './errors.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const fail = async (): Promise<never> => {
  throw Object.assign(new Error('upstream down'), { code: 'ECONNREFUSED' });
};
const ok = async (): Promise<string> => 'ok';

async function drive(
  policy: ReturnType<typeof circuitBreaker>,
  fn: () => Promise<unknown>,
  n: number,
): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await policy.execute(fn).catch((e: unknown) => e));
  return out;
}

describe('circuitBreaker', () => {
  it('stays closed below the minimum volume and opens once the failure rate crosses the threshold', async () => {
    const b = circuitBreaker({ minimumVolume: 5, failureRateThreshold: 50, resetTimeoutMs: 1000 });
    await drive(b, fail, 4);
    expect(b.state).toBe(CircuitState.Closed);
    await drive(b, fail, 1);
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });

  it('does not open on a failure rate at or below the threshold', async () => {
    const b = circuitBreaker({ minimumVolume: 4, failureRateThreshold: 50 });
    for (let i = 0; i < 10; i++) {
      await b.execute(ok);
      await b.execute(fail).catch(() => undefined);
    }
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('fails fast while open with one preallocated, stackless BrokenCircuitError and without calling', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 1000 });
    await drive(b, fail, 1);
    const fn = vi.fn(ok);
    const [e1, e2] = await drive(b, fn, 2);
    expect(fn).not.toHaveBeenCalled();
    expect(e1).toBeInstanceOf(BrokenCircuitError);
    expect(isResilienceError(e1, ErrorCodes.CIRCUIT_OPEN)).toBe(true);
    expect(e1).toBe(e2);
    expect((e1 as Error).stack?.split('\n')).toHaveLength(1);
    b.dispose();
  });

  it('never counts 4xx answers, bulkhead rejections or aborts as failures', async () => {
    expect(countsAsFailure({ statusCode: 404 })).toBe(false);
    expect(countsAsFailure({ status: 429 })).toBe(false);
    expect(countsAsFailure(BulkheadRejectedError.stackless(1, 1))).toBe(false);
    expect(countsAsFailure(new DOMException('x', 'AbortError'))).toBe(false);
    expect(countsAsFailure({ statusCode: 503 })).toBe(true);
    const b = circuitBreaker({ minimumVolume: 1 });
    const notFound = Object.assign(new Error('no such user'), { statusCode: 404 });
    const out = await drive(b, () => Promise.reject(notFound), 20);
    expect(out.every((e) => e === notFound)).toBe(true);
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('goes half-open after the reset timeout and closes when all N probes succeed', async () => {
    const events: StateChangeEvent[] = [];
    const b = circuitBreaker({ name: 'users', minimumVolume: 1, resetTimeoutMs: 1000, halfOpenProbes: 3 });
    b.onStateChange((e) => events.push(e));
    await drive(b, fail, 1);
    await vi.advanceTimersByTimeAsync(999);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.state).toBe(CircuitState.HalfOpen);
    // Three probes may run at once; a fourth concurrent call is rejected.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const probes = [1, 2, 3].map(() => b.execute(() => gate.then(ok)));
    await expect(b.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    release();
    await Promise.all(probes);
    expect(b.state).toBe(CircuitState.Closed);
    expect(events.map((e) => [e.from, e.to])).toEqual([
      [CircuitState.Closed, CircuitState.Open],
      [CircuitState.Open, CircuitState.HalfOpen],
      [CircuitState.HalfOpen, CircuitState.Closed],
    ]);
    expect(events[0]?.name).toBe('users');
    b.dispose();
  });

  it('reopens on a failed probe and waits a full reset timeout again', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 1000, halfOpenProbes: 2 });
    await drive(b, fail, 1);
    await vi.advanceTimersByTimeAsync(1000);
    await b.execute(ok);
    expect(b.state).toBe(CircuitState.HalfOpen);
    await b.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(999);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.state).toBe(CircuitState.HalfOpen);
    b.dispose();
  });

  it('treats a probe that fails with a 4xx as a success of the upstream', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100 });
    await drive(b, fail, 1);
    await vi.advanceTimersByTimeAsync(100);
    await b.execute(() => Promise.reject({ statusCode: 400 })).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('holds open while isolated, whatever happens, and closes when the last isolation is released', async () => {
    const b = circuitBreaker({ resetTimeoutMs: 10 });
    const a = b.isolate();
    const c = b.isolate();
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(100);
    await expect(b.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    a.dispose();
    a.dispose(); // idempotent
    expect(b.state).toBe(CircuitState.Open);
    c.dispose();
    expect(b.state).toBe(CircuitState.Closed);
    expect(await b.execute(ok)).toBe('ok');
    b.dispose();
  });

  it('starts from a clean window after the last isolation of a tripped breaker is released', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 60_000 });
    await b.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Open);
    const handle = b.isolate();
    handle.dispose();
    // Released before the reset timeout: closed at once, not left open by the earlier trip.
    expect(b.state).toBe(CircuitState.Closed);
    expect(await b.execute(ok)).toBe('ok');
    b.dispose();
  });

  it('rejects an invalid probe count', () => {
    expect(() => circuitBreaker({ halfOpenProbes: 0 })).toThrow(/halfOpenProbes/);
  });

  it('is not retried by an enclosing retry once open (no retry storm on an open breaker)', async () => {
    const b = circuitBreaker({ minimumVolume: 2, resetTimeoutMs: 10_000 });
    const policy = compose(retry({ maxAttempts: 5, backoff: constantBackoff(100) }), b);
    const fn = vi.fn(fail);
    const p = policy.execute(fn).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    // Two failures open the breaker; the third attempt is rejected fast and not retried.
    expect(await p).toBeInstanceOf(BrokenCircuitError);
    expect(fn).toHaveBeenCalledTimes(2);
    b.dispose();
  });

  it('does not wedge half-open when a probe ignores its signal: the timeout that answers its caller fails the probe', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100 });
    const policy = compose(timeout(50), b);
    await policy.execute(fail).catch(() => undefined);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(100);
    expect(b.state).toBe(CircuitState.HalfOpen);
    const hangs = policy.execute(() => new Promise<never>(() => {})).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await hangs).toBeInstanceOf(TimeoutError);
    // The probe failed: open again, and after the reset timeout a new probe is let through and closes it.
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(100);
    expect(await policy.execute(ok)).toBe('ok');
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('frees the probe place of a caller that aborted, without counting it either way', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    const controller = new AbortController();
    const gone = b.execute(() => new Promise<never>(() => {}), { signal: controller.signal }).catch((e: unknown) => e);
    expect(b.accepting).toBe(false);
    controller.abort(new DOMException('caller left', 'AbortError'));
    expect(((await gone) as Error).name).toBe('AbortError');
    expect(b.state).toBe(CircuitState.HalfOpen);
    expect(b.accepting).toBe(true);
    expect(await b.execute(ok)).toBe('ok');
    expect(b.state).toBe(CircuitState.Closed);
    b.dispose();
  });

  it('caps the time spent half-open when a probe never settles and nothing times it out', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100, maxHalfOpenMs: 500 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    void b.execute(() => new Promise<never>(() => {}));
    await vi.advanceTimersByTimeAsync(499);
    expect(b.state).toBe(CircuitState.HalfOpen);
    expect(await b.execute(ok).catch((e: unknown) => e)).toBeInstanceOf(BrokenCircuitError);
    await vi.advanceTimersByTimeAsync(1);
    expect(b.state).toBe(CircuitState.Open);
    await vi.advanceTimersByTimeAsync(100);
    expect(await b.execute(ok)).toBe('ok');
    expect(b.state).toBe(CircuitState.Closed);
    expect(() => circuitBreaker({ maxHalfOpenMs: 0 })).toThrow(/maxHalfOpenMs must be a positive number of ms, got 0/);
    b.dispose();
  });

  it('ignores a probe that settles after its half-open period ended', async () => {
    const b = circuitBreaker({ minimumVolume: 1, resetTimeoutMs: 100, maxHalfOpenMs: 200 });
    await b.execute(fail).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    let finish!: () => void;
    const late = b.execute(() => new Promise<string>((r) => (finish = () => r('late'))));
    await vi.advanceTimersByTimeAsync(200);
    expect(b.state).toBe(CircuitState.Open);
    finish();
    expect(await late).toBe('late');
    // A success from an earlier half-open period proves nothing now: still open.
    expect(b.state).toBe(CircuitState.Open);
    b.dispose();
  });
});
