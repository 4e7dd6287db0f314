/**
 * The small predicates and validations every policy leans on, pinned value by value: a copy that changes
 * one of them changes which errors are retried, counted or recognised.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff, exponentialBackoff } from './backoff.ts';
import { countsAsFailure } from './circuit-breaker.ts';
import { sleep } from './clock.ts';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ConcurrencyLimitError,
  DeadlineExceededError,
  ErrorCodes,
  HttpStatusError,
  isResilienceError,
  isShed,
  statusOf,
  TimeoutError,
} from './errors.ts';
import { Emitter } from './event.ts';
import { parseRetryAfter } from './http/retry-after.ts';
import { retry, isTransientError } from './retry.ts';
import { RetryBudget } from './retry-budget.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const coded = (code: string, extra: object = {}): Error => Object.assign(new Error(code), { code }, extra);

describe('errors', () => {
  it('says what happened in each message, with the figures', () => {
    expect(new TimeoutError(250).message).toBe('operation timed out after 250 ms');
    expect(new TimeoutError(250).timeoutMs).toBe(250);
    expect(new BrokenCircuitError().message).toBe('circuit breaker is open: the call was not attempted');
    expect(new BulkheadRejectedError(4, 8).message).toBe('bulkhead full: 4 running and 8 queued');
    expect(new DeadlineExceededError().message).toBe('deadline exceeded before the call started');
    expect(new HttpStatusError(503, 'users', 1000, 'x').message).toBe('upstream users answered HTTP 503');
    expect(new ConcurrencyLimitError().message).toBe('concurrency limit reached: the call was shed without running');
    expect(new TimeoutError(1).name).toBe('TimeoutError');
  });

  it('builds stackless errors without changing the stack trace limit for anyone else', () => {
    const before = Error.stackTraceLimit;
    const e = BulkheadRejectedError.stackless(1, 2);
    expect(e.stack?.split('\n').length).toBe(1);
    expect(Error.stackTraceLimit).toBe(before);
    expect(BrokenCircuitError.preallocated('x').message).toBe('x');
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('with stack').stack?.split('\n').length).toBeGreaterThan(1);
  });

  it('recognises its errors by code, and nothing else', () => {
    for (const v of [null, undefined, 0, 'RES_ERR_TIMEOUT', true]) expect(isResilienceError(v)).toBe(false);
    expect(isResilienceError({ code: 42 })).toBe(false);
    expect(isResilienceError({ code: 'ECONNRESET' })).toBe(false);
    expect(isResilienceError({ code: 'RES_ERR_TIMEOUT' })).toBe(true);
    expect(isResilienceError({ code: 'RES_ERR_TIMEOUT' }, ErrorCodes.TIMEOUT)).toBe(true);
    expect(isResilienceError({ code: 'RES_ERR_TIMEOUT' }, ErrorCodes.CIRCUIT_OPEN)).toBe(false);
  });

  it('reads a status from statusCode or status, and from nothing else', () => {
    for (const v of [null, undefined, 503, '503']) expect(statusOf(v)).toBeUndefined();
    expect(statusOf({ statusCode: 503 })).toBe(503);
    expect(statusOf({ status: 404 })).toBe(404);
    expect(statusOf({ statusCode: '503', status: 502 })).toBe(502);
    expect(statusOf({ status: '404' })).toBeUndefined();
  });
});

describe('isTransientError', () => {
  it.each([
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
  ])('retries the connection error %s, also wrapped as a cause', (code) => {
    expect(isTransientError(coded(code))).toBe(true);
    expect(isTransientError(new TypeError('fetch failed', { cause: coded(code) }))).toBe(true);
  });

  it('does not retry the rest', () => {
    for (const v of [null, undefined, 'ECONNRESET', 503]) expect(isTransientError(v)).toBe(false);
    expect(isTransientError(coded('ENOENT'))).toBe(false);
    expect(isTransientError({ code: 503 })).toBe(false);
    expect(isTransientError(new Error('plain'))).toBe(false);
    const selfCaused = new Error('loop');
    (selfCaused as { cause?: unknown }).cause = selfCaused;
    expect(isTransientError(selfCaused)).toBe(false);
    expect(isTransientError(new Error('x', { cause: new Error('y') }))).toBe(false);
    for (const s of [400, 404, 500, 501]) expect(isTransientError({ statusCode: s })).toBe(false);
    for (const s of [429, 502, 503, 504]) expect(isTransientError({ statusCode: s })).toBe(true);
    expect(isTransientError(new HttpStatusError(500, 'u', undefined, ''))).toBe(false);
    expect(isTransientError(new HttpStatusError(503, 'u', undefined, ''))).toBe(true);
    expect(isTransientError(new TimeoutError(1))).toBe(true);
    expect(isTransientError(new DeadlineExceededError())).toBe(false);
    expect(isTransientError(new ConcurrencyLimitError())).toBe(false);
    // A status decides before a connection code.
    expect(isTransientError(coded('ECONNRESET', { statusCode: 400 }))).toBe(false);
  });
});

describe('isShed (a load shedder turned the call away)', () => {
  const shedBody = JSON.stringify({ error: 'at its limit', code: ErrorCodes.CONCURRENCY_LIMIT });
  it('reads the code of an upstream’s JSON answer', () => {
    expect(new HttpStatusError(503, 'u', 1_000, shedBody).upstreamCode).toBe(ErrorCodes.CONCURRENCY_LIMIT);
    expect(new HttpStatusError(500, 'u', undefined, '{"code":"DB_DOWN"}').upstreamCode).toBe('DB_DOWN');
    for (const body of [
      '',
      'oops',
      '{"code":7}',
      '{not json',
      ` ${shedBody}`,
      `{"code":"X","pad":"${'x'.repeat(4_096)}"}`,
    ])
      expect(new HttpStatusError(503, 'u', undefined, body).upstreamCode).toBeUndefined();
  });

  it('is true for our own limit and an upstream’s shedding or full-bulkhead answer, and nothing else', () => {
    expect(isShed(new ConcurrencyLimitError())).toBe(true);
    expect(isShed(new HttpStatusError(503, 'u', 1_000, shedBody))).toBe(true);
    expect(isShed(new HttpStatusError(503, 'u', 1_000, '{"code":"RES_ERR_BULKHEAD_FULL"}'))).toBe(true);
    expect(isShed(new HttpStatusError(503, 'u', 1_000, '{"code":"RES_ERR_TIMEOUT"}'))).toBe(false);
    expect(isShed(new HttpStatusError(503, 'u', 1_000, ''))).toBe(false);
    // Only an HTTP status error's upstream code counts: a stray `upstreamCode` on another error does not.
    expect(isShed({ code: 'E', upstreamCode: ErrorCodes.CONCURRENCY_LIMIT })).toBe(false);
    for (const v of [null, undefined, new BulkheadRejectedError(1, 1), new TimeoutError(1)])
      expect(isShed(v)).toBe(false);
  });

  it('is neither retried nor counted by a breaker, unlike any other 503', () => {
    const shed = new HttpStatusError(503, 'u', 1_000, shedBody);
    expect(isTransientError(shed)).toBe(false);
    expect(countsAsFailure(shed)).toBe(false);
    const other = new HttpStatusError(503, 'u', 1_000, '{"code":"UPSTREAM_DOWN"}');
    expect(isTransientError(other)).toBe(true);
    expect(countsAsFailure(other)).toBe(true);
  });
});

describe('countsAsFailure (the breaker default)', () => {
  it('counts upstream failures and not the caller’s own mistakes or decisions', () => {
    for (const s of [399, 500, 503]) expect(countsAsFailure({ statusCode: s })).toBe(true);
    for (const s of [400, 404, 499]) expect(countsAsFailure({ statusCode: s })).toBe(false);
    expect(countsAsFailure(new BulkheadRejectedError(1, 1))).toBe(false);
    expect(countsAsFailure(new ConcurrencyLimitError())).toBe(false);
    expect(countsAsFailure(new DOMException('gone', 'AbortError'))).toBe(false);
    expect(countsAsFailure({ name: 'AbortError' })).toBe(false);
    for (const v of [null, undefined, 'AbortError', new Error('x'), new TimeoutError(1)]) {
      expect(countsAsFailure(v)).toBe(true);
    }
  });
});

describe('retry details', () => {
  const reset = (): Promise<never> => Promise.reject(coded('ECONNRESET'));

  it('accepts a single attempt (no retry) and refuses zero, naming the option', async () => {
    const fn = vi.fn(reset);
    await retry({ maxAttempts: 1 })
      .execute(fn)
      .catch(() => undefined);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(() => retry({ maxAttempts: 0 })).toThrow(
      'retry: maxAttempts counts the first call and must be an integer >= 1, got 0',
    );
  });

  it('accepts a Retry-After of exactly the most it allows, and ignores negative or odd values', async () => {
    const waits: number[] = [];
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(1), maxRetryAfterMs: 500 });
    policy.onRetry((e) => waits.push(e.delayMs));
    for (const retryAfterMs of [500, -5, '300']) {
      const p = policy.execute(() => Promise.reject(coded('ECONNRESET', { retryAfterMs }))).catch(() => undefined);
      await vi.advanceTimersByTimeAsync(600);
      await p;
    }
    expect(waits).toEqual([500, 1, 1]);
  });

  it('does not start a retry that would begin exactly at the deadline', async () => {
    const reasons: string[] = [];
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(100) });
    policy.onGiveUp((e) => reasons.push(e.reason));
    const p = policy.execute(reset, { deadline: performance.now() + 100 }).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(150);
    await p;
    expect(reasons).toEqual(['deadline']);
  });

  it('gives up with reason "cancelled" when the caller aborted during the attempt', async () => {
    const reasons: string[] = [];
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(1) });
    policy.onGiveUp((e) => reasons.push(e.reason));
    const caller = new AbortController();
    await policy
      .execute(
        () => {
          caller.abort(new Error('bye'));
          return reset();
        },
        { signal: caller.signal },
      )
      .catch(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(reasons).toEqual(['cancelled']);
  });
});

describe('backoff', () => {
  it('defaults to full jitter over 100 ms doubling, capped at 10 s', () => {
    const b = exponentialBackoff({ random: () => 0.5 });
    expect([b.delay(1, 0), b.delay(2, 0), b.delay(3, 0), b.delay(20, 0)]).toEqual([50, 100, 200, 5_000]);
  });

  it('accepts the edges of its ranges and names the values it refuses', () => {
    expect(exponentialBackoff({ initialDelayMs: 0, jitter: 'none' }).delay(3, 0)).toBe(0);
    expect(exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 50, jitter: 'none' }).delay(4, 0)).toBe(50);
    expect(exponentialBackoff({ multiplier: 1, jitter: 'none' }).delay(5, 0)).toBe(100);
    expect(() => exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 50 })).toThrow(
      'exponentialBackoff: need 0 <= initialDelayMs <= maxDelayMs and multiplier >= 1, got 100, 50, 2',
    );
    expect(() => exponentialBackoff({ multiplier: 0.5 })).toThrow(/multiplier >= 1/);
    expect(() => exponentialBackoff({ initialDelayMs: -1 })).toThrow(/initialDelayMs/);
  });
});

describe('RetryBudget validation and window', () => {
  it('refuses a window of 0 ms and negative figures, naming them', () => {
    const msg = 'RetryBudget: ratio, minRetriesPerSecond must be >= 0 and windowMs > 0';
    expect(() => new RetryBudget({ windowMs: 0 })).toThrow(msg);
    expect(() => new RetryBudget({ ratio: -0.1 })).toThrow(msg);
    expect(() => new RetryBudget({ minRetriesPerSecond: -1 })).toThrow(msg);
    expect(() => new RetryBudget({ ratio: 0, minRetriesPerSecond: 0 })).not.toThrow();
  });

  it('counts requests made in the first bucket after a start at time 0', () => {
    const b = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, windowMs: 1_000 });
    for (let i = 0; i < 4; i++) b.recordRequest();
    expect(b.available).toBe(2);
    vi.advanceTimersByTime(50);
    expect(b.available).toBe(2);
  });
});

describe('Emitter', () => {
  it('unsubscribes exactly the disposed listener, and isolates a throwing one', () => {
    const e = new Emitter<number>();
    expect(e.hasListeners).toBe(false);
    const seen: string[] = [];
    const a = e.subscribe((n) => seen.push(`a${n}`));
    e.subscribe(() => {
      throw new Error('listener bug');
    });
    e.subscribe((n) => seen.push(`c${n}`));
    expect(e.hasListeners).toBe(true);
    e.emit(1);
    a.dispose();
    e.emit(2);
    expect(seen).toEqual(['a1', 'c1', 'c2']);
  });

  it('has no listeners after the last one disposes', () => {
    const e = new Emitter<number>();
    e.subscribe(() => undefined).dispose();
    expect(e.hasListeners).toBe(false);
  });
});

describe('sleep', () => {
  it('rejects at once with the reason of an already aborted signal', async () => {
    const c = new AbortController();
    c.abort(new Error('already'));
    await expect(sleep(1_000, c.signal)).rejects.toThrow('already');
  });

  it('resolves after the time, and an abort after that changes nothing', async () => {
    const c = new AbortController();
    let done = false;
    const p = sleep(100, c.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
    c.abort(new Error('late'));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears its timer when aborted', async () => {
    const c = new AbortController();
    const p = sleep(100, c.signal).catch((e: unknown) => e);
    c.abort(new Error('stop'));
    expect(((await p) as Error).message).toBe('stop');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds with surrounding space, and refuses partial numbers', () => {
    expect(parseRetryAfter(' 3 ', 0)).toBe(3_000);
    expect(parseRetryAfter(['2', '9'], 0)).toBe(2_000);
    expect(parseRetryAfter('3x', 0)).toBeUndefined();
    expect(parseRetryAfter('x3', 0)).toBeUndefined();
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT'))).toBe(2_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 08:00:00 GMT'))).toBe(0);
  });
});
