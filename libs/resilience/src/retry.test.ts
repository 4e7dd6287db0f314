import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff, exponentialBackoff } from './backoff.ts';
import { BrokenCircuitError, BulkheadRejectedError, HttpStatusError, TimeoutError } from './errors.ts';
import { isTransientError, retry, type GiveUpEvent, type RetryEvent } from './retry.ts';
import { RetryBudget } from './retry-budget.ts';
import { compose } from './compose.ts';
import { DEADLINE_HEADER, deadlineFromHeaders } from './deadline.ts';
import { timeout } from './timeout.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const transient = (): Error => Object.assign(new Error('reset'), { code: 'ECONNRESET' });

/** A function failing `failures` times with `error()`, then returning 'ok'. */
function flaky(failures: number, error: () => unknown = transient) {
  const fn = vi.fn(async () => {
    if (fn.mock.calls.length <= failures) throw error();
    return 'ok';
  });
  return fn;
}

describe('retry', () => {
  it('counts the first call in maxAttempts', async () => {
    const fn = flaky(10);
    const p = retry({ maxAttempts: 3, backoff: constantBackoff(10) })
      .execute(fn)
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect((await p) as Error).toMatchObject({ code: 'ECONNRESET' });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('succeeds after transient failures and numbers the attempts', async () => {
    const attempts: number[] = [];
    const fn = flaky(2);
    const p = retry({ maxAttempts: 5, backoff: constantBackoff(10) }).execute((ctx) => {
      attempts.push(ctx.attempt);
      return fn();
    });
    await vi.advanceTimersByTimeAsync(20);
    expect(await p).toBe('ok');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('waits exponentially growing, capped delays', async () => {
    const delays: number[] = [];
    const policy = retry({
      maxAttempts: 6,
      backoff: exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 500, jitter: 'none' }),
    });
    policy.onRetry((e: RetryEvent) => delays.push(e.delayMs));
    const fn = flaky(5);
    const p = policy.execute(fn);
    await vi.advanceTimersByTimeAsync(99);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(2000);
    expect(await p).toBe('ok');
    expect(delays).toEqual([100, 200, 400, 500, 500]);
  });

  it('spreads delays with full and decorrelated jitter', () => {
    const seq = [0.5, 0.25, 0.9];
    let i = 0;
    const random = () => seq[i++ % seq.length]!;
    const full = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 10_000, jitter: 'full', random });
    expect([full.delay(1, 0), full.delay(2, 0), full.delay(3, 0)]).toEqual([50, 50, 360]);
    const dec = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'decorrelated', random: () => 1 });
    // random() = 1 gives the top of the range: 3 × previous, capped.
    expect(dec.delay(1, 0)).toBe(300);
    expect(dec.delay(2, 300)).toBe(900);
    expect(dec.delay(3, 900)).toBe(1000);
    const low = exponentialBackoff({ initialDelayMs: 100, jitter: 'decorrelated', random: () => 0 });
    expect(low.delay(4, 5000)).toBe(100);
  });

  it('rejects impossible backoff and attempt settings', () => {
    expect(() => exponentialBackoff({ initialDelayMs: 500, maxDelayMs: 100 })).toThrow(RangeError);
    expect(() => retry({ maxAttempts: 0 })).toThrow(/counts the first call/);
  });

  it('does not retry errors that are not transient', async () => {
    const fn = flaky(1, () => new Error('bug'));
    const gaveUp: GiveUpEvent[] = [];
    const policy = retry({ maxAttempts: 3 });
    policy.onGiveUp((e) => gaveUp.push(e));
    await expect(policy.execute(fn)).rejects.toThrow('bug');
    expect(fn).toHaveBeenCalledTimes(1);
    expect(gaveUp[0]?.reason).toBe('not-retryable');
  });

  it('never retries a breaker or bulkhead rejection', async () => {
    for (const error of [BrokenCircuitError.preallocated(), BulkheadRejectedError.stackless(1, 0)]) {
      const fn = flaky(1, () => error);
      await expect(retry({ maxAttempts: 5 }).execute(fn)).rejects.toBe(error);
      expect(fn).toHaveBeenCalledTimes(1);
    }
  });

  it('classifies transient errors', () => {
    expect(isTransientError(Object.assign(new Error(), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error(), { code: 'UND_ERR_SOCKET' }))).toBe(true);
    expect(
      isTransientError(new TypeError('fetch failed', { cause: Object.assign(new Error(), { code: 'ECONNRESET' }) })),
    ).toBe(true);
    for (const status of [502, 503, 504, 429]) {
      expect(isTransientError({ statusCode: status })).toBe(true);
      expect(isTransientError(new HttpStatusError(status, 'u', undefined, ''))).toBe(true);
    }
    for (const status of [400, 404, 409, 500, 501]) expect(isTransientError({ status })).toBe(false);
    expect(isTransientError(new HttpStatusError(500, 'u', undefined, ''))).toBe(false);
    expect(isTransientError(new TimeoutError(10))).toBe(true);
    expect(isTransientError(new Error('plain'))).toBe(false);
    expect(isTransientError('string')).toBe(false);
  });

  it('waits at least as long as Retry-After asks', async () => {
    const fn = flaky(1, () => new HttpStatusError(503, 'u', 3000, ''));
    const p = retry({ maxAttempts: 2, backoff: constantBackoff(10) }).execute(fn);
    await vi.advanceTimersByTimeAsync(2999);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBe('ok');
  });

  it('gives up at once when Retry-After is longer than it accepts', async () => {
    const error = new HttpStatusError(503, 'u', 120_000, '');
    const policy = retry({ maxAttempts: 3, maxRetryAfterMs: 60_000 });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    await expect(policy.execute(flaky(1, () => error))).rejects.toBe(error);
    expect(reasons).toEqual(['retry-after-too-long']);
  });

  it('skips a retry that could not finish before the deadline', async () => {
    const fn = flaky(3);
    const policy = retry({ maxAttempts: 5, backoff: constantBackoff(100) });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    const p = policy.execute(fn, { deadline: performance.now() + 150 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    expect(await p).toMatchObject({ code: 'ECONNRESET' });
    expect(fn).toHaveBeenCalledTimes(2);
    expect(reasons).toEqual(['deadline']);
  });

  it('stops waiting and retrying as soon as the caller aborts', async () => {
    const controller = new AbortController();
    const fn = flaky(10);
    const p = retry({ maxAttempts: 10, backoff: constantBackoff(1000) })
      .execute(fn, { signal: controller.signal })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('stop'));
    expect(await p).toEqual(new Error('stop'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('lets a retry budget cap retries to a ratio of requests', async () => {
    const budget = new RetryBudget({ ratio: 0.1, minRetriesPerSecond: 0, windowMs: 1000 });
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(0), budget });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    let calls = 0;
    const alwaysFails = async (): Promise<never> => {
      calls++;
      throw transient();
    };
    const runs = Array.from({ length: 20 }, () => policy.execute(alwaysFails).catch(() => undefined));
    await vi.advanceTimersByTimeAsync(5);
    await Promise.all(runs);
    // 20 requests × 0.1 = 2 retries allowed in the window.
    expect(calls).toBe(22);
    expect(reasons.filter((r) => r === 'budget-exhausted')).toHaveLength(18);
  });
});

describe('RetryBudget', () => {
  it('refills as old requests leave the window and keeps a per-second reserve', () => {
    vi.setSystemTime(0);
    const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 1, windowMs: 1000 });
    // Reserve: 1 retry per second over a 1 s window.
    expect(budget.available).toBe(1);
    for (let i = 0; i < 4; i++) budget.recordRequest();
    expect(budget.available).toBe(3);
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(budget.available).toBe(1);
  });

  it('rejects invalid options', () => {
    expect(() => new RetryBudget({ ratio: -1 })).toThrow(RangeError);
  });

  it('starts no attempt after a backoff sleep during which an enclosing timeout expired', async () => {
    // Real timers: the event loop is held up just before the sleep (as a busy process would), so the sleep
    // starts after the timeout's deadline and the timeout expires while it sleeps.
    vi.useRealTimers();
    const fn = vi.fn(async () => {
      throw new HttpStatusError(503, 'up', undefined, '');
    });
    const r = retry({ maxAttempts: 3, backoff: constantBackoff(20) });
    r.onRetry(() => {
      const until = performance.now() + 80;
      while (performance.now() < until);
    });
    const caught = await compose(timeout(50), r)
      .execute(fn)
      .catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(TimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The sleep ended after the caller was answered: no second attempt.
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('deadlineFromHeaders', () => {
  it('caps an incoming budget at one hour', () => {
    const start = performance.now();
    const deadline = deadlineFromHeaders({ [DEADLINE_HEADER]: '99999999' })!;
    expect(deadline - start).toBeGreaterThanOrEqual(3_600_000);
    expect(deadline - start).toBeLessThan(3_600_000 + 1_000);
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: '250' })! - performance.now()).toBeLessThanOrEqual(250);
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: '-5' })).toBeUndefined();
  });
});
