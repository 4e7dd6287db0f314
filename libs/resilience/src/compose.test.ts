import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.ts';
import { bulkhead } from './bulkhead.ts';
import { circuitBreaker } from './circuit-breaker.ts';
import { compose, noop } from './compose.ts';
import { DeadlineExceededError, TimeoutError } from './errors.ts';
import { fallback } from './fallback.ts';
import { retry } from './retry.ts';
import { timeout } from './timeout.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const timeoutErr = (): Error => Object.assign(new Error('reset'), { code: 'ECONNRESET' });

describe('compose', () => {
  it('runs policies outermost first: a retry outside a timeout gives each attempt its own budget', async () => {
    const attempts: number[] = [];
    const policy = compose(retry({ maxAttempts: 3, backoff: constantBackoff(10) }), timeout(100));
    const p = policy.execute((ctx) => {
      attempts.push(ctx.attempt);
      // The first two attempts hang past their timeout; the third answers.
      return ctx.attempt < 3 ? new Promise(() => {}) : 'ok';
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(10);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(110);
    expect(await p).toBe('ok');
  });

  it('a timeout outside a retry bounds the whole execution and stops further attempts', async () => {
    const fn = vi.fn(async () => {
      if (fn.mock.calls.length < 3) throw timeoutErr();
      return new Promise(() => {}); // the third attempt hangs
    });
    const p = compose(timeout(250), retry({ maxAttempts: 100, backoff: constantBackoff(100) }))
      .execute(fn)
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(250);
    expect(await p).toBeInstanceOf(TimeoutError);
    expect(fn).toHaveBeenCalledTimes(3); // t = 0, 100, 200
    await vi.advanceTimersByTimeAsync(1000);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('a retry inside a timeout skips the attempt that could not finish in time and returns the last error', async () => {
    const fn = vi.fn(async () => {
      throw timeoutErr();
    });
    const p = compose(timeout(250), retry({ maxAttempts: 100, backoff: constantBackoff(100) }))
      .execute(fn)
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    // At t = 200 a retry would start at 300, past the 250 ms budget: the real error is returned at once.
    expect(await p).toMatchObject({ code: 'ECONNRESET' });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('threads the caller abort through every layer', async () => {
    const b = circuitBreaker();
    const policy = compose(
      fallback(() => 'never'),
      timeout(1000),
      retry({ backoff: constantBackoff(10) }),
      b,
      bulkhead(1),
    );
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    const p = policy
      .execute(
        (ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e);
    controller.abort(new Error('cancelled by user'));
    expect(await p).toEqual(new Error('cancelled by user'));
    expect(signal?.aborted).toBe(true);
    b.dispose();
  });

  it('honours an execution deadline: rejects work past it and cuts work that overruns it', async () => {
    await expect(noop.execute(() => 1, { deadline: performance.now() - 1 })).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    let signal: AbortSignal | undefined;
    const p = compose(timeout(1000))
      .execute(
        (ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        },
        { deadline: performance.now() + 50 },
      )
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await p).toBeInstanceOf(DeadlineExceededError);
    expect(signal?.aborted).toBe(true);
    expect(await noop.execute((ctx) => ctx.deadline, { deadline: performance.now() + 10 })).toBe(
      performance.now() + 10,
    );
  });

  it('rejects at once for a caller that aborted before starting', async () => {
    const c = new AbortController();
    c.abort(new Error('early'));
    const fn = vi.fn();
    await expect(compose(retry()).execute(fn, { signal: c.signal })).rejects.toThrow('early');
    await expect(noop.execute(fn, { signal: c.signal, deadline: performance.now() + 10 })).rejects.toThrow('early');
    expect(fn).not.toHaveBeenCalled();
  });

  it('turns a synchronous throw into a rejection and passes plain values through', async () => {
    await expect(
      noop.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await noop.execute(() => 7)).toBe(7);
    const c = new AbortController();
    expect(await noop.execute((ctx) => ctx.signal === c.signal, { signal: c.signal })).toBe(true);
  });
});
