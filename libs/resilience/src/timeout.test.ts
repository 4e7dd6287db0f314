import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, TimeoutError, isResilienceError } from './errors.ts';
import { compose } from './compose.ts';
import { timeout } from './timeout.ts';
import type { PolicyContext } from './policy.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A function that never settles unless its signal aborts. */
function hang(ctx: PolicyContext): Promise<never> {
  return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
}

describe('timeout', () => {
  it('returns the result of a call that finishes in time and never aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const result = await timeout(100).execute(async (ctx) => {
      seen = ctx.signal;
      return 42;
    });
    expect(result).toBe(42);
    await vi.advanceTimersByTimeAsync(200);
    expect(seen?.aborted).toBe(false);
  });

  it('rejects with a coded TimeoutError at the deadline and aborts the signal the call read', async () => {
    let signal: AbortSignal | undefined;
    const p = timeout(100).execute((ctx) => {
      signal = ctx.signal;
      return hang(ctx);
    });
    const outcome = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(99);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(isResilienceError(err, ErrorCodes.TIMEOUT)).toBe(true);
    expect((err as TimeoutError).timeoutMs).toBe(100);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(err);
  });

  it('answers the caller on time even when the call ignores its signal', async () => {
    const p = timeout(50).execute(() => new Promise(() => {}));
    const outcome = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await outcome).toBeInstanceOf(TimeoutError);
  });

  it('hands out an already-aborted signal when read after expiry', async () => {
    let late: AbortSignal | undefined;
    const p = timeout(10).execute(async (ctx) => {
      await new Promise((r) => setTimeout(r, 20));
      late = ctx.signal;
    });
    const outcome = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(25);
    expect(await outcome).toBeInstanceOf(TimeoutError);
    expect(late?.aborted).toBe(true);
  });

  it('expires many concurrent calls each at its own deadline with one shared timer queue', async () => {
    const t = timeout(100);
    const settled: number[] = [];
    const starts = [0, 10, 20, 30];
    const runs: Promise<unknown>[] = [];
    for (const [i, start] of starts.entries()) {
      if (start > 0) await vi.advanceTimersByTimeAsync(10);
      runs.push(t.execute(hang).catch(() => settled.push(i)));
    }
    // Call 1 finishes on its own; the others time out in start order.
    await vi.advanceTimersByTimeAsync(69); // t = 99
    expect(settled).toEqual([]);
    await vi.advanceTimersByTimeAsync(1); // t = 100
    expect(settled).toEqual([0]);
    await vi.advanceTimersByTimeAsync(20); // t = 120
    expect(settled).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toEqual([0, 1, 2, 3]);
    await Promise.all(runs);
  });

  it('keeps timing out correctly after earlier calls succeeded out of order', async () => {
    const t = timeout(100);
    let release!: () => void;
    const first = t.execute(() => new Promise<void>((r) => (release = r)));
    const second = t.execute(hang).catch((e: unknown) => e);
    release();
    await first;
    await vi.advanceTimersByTimeAsync(100);
    expect(await second).toBeInstanceOf(TimeoutError);
  });

  it('passes the caller abort through to the call and rejects with the caller reason', async () => {
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    const p = timeout(1000).execute(
      (ctx) => {
        signal = ctx.signal;
        return hang(ctx);
      },
      { signal: controller.signal },
    );
    const outcome = p.catch((e: unknown) => e);
    const reason = new Error('client went away');
    controller.abort(reason);
    expect(await outcome).toBe(reason);
    expect(signal?.aborted).toBe(true);
  });

  it('lets an outer, shorter timeout win over an inner, longer one and aborts the inner signal', async () => {
    let signal: AbortSignal | undefined;
    const p = compose(timeout(50), timeout(500)).execute((ctx) => {
      signal = ctx.signal;
      return hang(ctx);
    });
    const outcome = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    const err = await outcome;
    expect((err as TimeoutError).timeoutMs).toBe(50);
    expect(signal?.aborted).toBe(true);
  });

  it('reports the earliest deadline in the context', async () => {
    let deadline = 0;
    await compose(timeout(500), timeout(50)).execute((ctx) => {
      deadline = ctx.deadline;
    });
    expect(deadline).toBe(performance.now() + 50);
  });

  it('rejects a non-positive budget with a clear message', () => {
    expect(() => timeout(0)).toThrow(/positive number of milliseconds/);
    expect(() => timeout({ ms: Number.NaN })).toThrow(RangeError);
  });
});

describe('timeout options', () => {
  it('takes its budget as a number or as { ms }, and reports an outer, earlier deadline', async () => {
    vi.useFakeTimers();
    const t0 = performance.now();
    expect(await timeout({ ms: 50 }).execute((ctx) => ctx.deadline)).toBe(t0 + 50);
    expect(await compose(timeout(50), timeout({ ms: 5_000 })).execute((ctx) => ctx.deadline)).toBe(t0 + 50);
    const p = timeout({ ms: 30 })
      .execute(() => new Promise(() => undefined))
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(30);
    expect(((await p) as TimeoutError).timeoutMs).toBe(30);
    vi.useRealTimers();
  });
});
