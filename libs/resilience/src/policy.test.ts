/** The execution core every policy shares: signals linked and unlinked, deadlines, cancellation reasons. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.ts';
import { compose } from './compose.ts';
import { DeadlineExceededError, TimeoutError } from './errors.ts';
import type { PolicyContext } from './policy.ts';
import { retry } from './retry.ts';
import { timeout } from './timeout.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const reset = (): Promise<never> => Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));

describe('signals', () => {
  it("hands out a signal already aborted, with the caller's reason, when the caller aborted first", async () => {
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    await timeout(1_000)
      .execute(
        (ctx) => {
          caller.abort(new Error('caller left'));
          seen = ctx.signal;
          return 'x';
        },
        { signal: caller.signal },
      )
      .catch(() => undefined);
    expect(seen?.aborted).toBe(true);
    expect((seen?.reason as Error).message).toBe('caller left');
  });

  it("follows the caller's abort while running, and lets go of it once the call is over", async () => {
    const caller = new AbortController();
    let during: AbortSignal | undefined;
    const p = timeout(1_000).execute(
      (ctx) => {
        during = ctx.signal;
        return new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      },
      { signal: caller.signal },
    );
    caller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(during?.aborted).toBe(true);

    const later = new AbortController();
    let after: AbortSignal | undefined;
    await timeout(1_000).execute(
      (ctx) => {
        after = ctx.signal;
        return 'done';
      },
      { signal: later.signal },
    );
    later.abort(new Error('too late to matter'));
    expect(after?.aborted).toBe(false);
  });

  it('passes no signal listener to a function when the caller gave none', async () => {
    const signal = await compose(retry()).execute((ctx) => ctx.signal);
    expect(signal.aborted).toBe(false);
    // The shared never-aborting signal handed back in is treated as "no signal".
    expect(await compose(retry()).execute(() => 'ok', { signal })).toBe('ok');
  });

  it('answers as soon as the caller aborts, even if the function never settles, and not after a success', async () => {
    const caller = new AbortController();
    const p = compose(retry()).execute(() => new Promise(() => undefined), { signal: caller.signal });
    caller.abort(new Error('now'));
    await expect(p).rejects.toThrow('now');
    const c2 = new AbortController();
    expect(await compose(retry()).execute(() => 7, { signal: c2.signal })).toBe(7);
    c2.abort();
    const c3 = new AbortController();
    await expect(compose(retry({ maxAttempts: 1 })).execute(reset, { signal: c3.signal })).rejects.toThrow('reset');
  });
});

describe('deadlines', () => {
  it('refuses to start at or past the deadline', async () => {
    let ran = false;
    const start = performance.now();
    const r = await compose(retry())
      .execute(
        () => {
          ran = true;
        },
        { deadline: start },
      )
      .catch((e: unknown) => e);
    expect(r).toBeInstanceOf(DeadlineExceededError);
    expect((r as Error).message).toBe('deadline exceeded before the call started');
    expect(ran).toBe(false);
  });

  it('cuts a call at its deadline with a message that says so, and answers values before it', async () => {
    const p = compose(retry())
      .execute(() => new Promise(() => undefined), { deadline: performance.now() + 100 })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(99);
    await vi.advanceTimersByTimeAsync(1);
    const e = await p;
    expect(e).toBeInstanceOf(DeadlineExceededError);
    expect((e as Error).message).toBe('deadline exceeded while the call was running');
    expect(await compose(retry()).execute(() => 'in time', { deadline: performance.now() + 100 })).toBe('in time');
    await expect(
      compose(retry({ maxAttempts: 1 })).execute(reset, { deadline: performance.now() + 100 }),
    ).rejects.toThrow('reset');
  });

  it("with a deadline, still answers the caller's abort at once and with its reason", async () => {
    const caller = new AbortController();
    const p = compose(retry()).execute(() => new Promise(() => undefined), {
      signal: caller.signal,
      deadline: performance.now() + 1_000,
    });
    caller.abort(new Error('caller gone'));
    await expect(p).rejects.toThrow('caller gone');
    const pre = new AbortController();
    pre.abort(new Error('before'));
    await expect(
      compose(retry()).execute(() => 1, { signal: pre.signal, deadline: performance.now() + 1_000 }),
    ).rejects.toThrow('before');
  });

  it('gives the function the earlier of its own timeout and the deadline', async () => {
    const t0 = performance.now();
    const seen: number[] = [];
    const f = (ctx: PolicyContext): number => {
      seen.push(ctx.deadline);
      return 1;
    };
    await timeout(50).execute(f, { deadline: t0 + 1_000 });
    await timeout(5_000).execute(f, { deadline: t0 + 1_000 });
    expect(seen).toEqual([t0 + 50, t0 + 1_000]);
  });
});

describe('cancellation through nested scopes', () => {
  it('retries nothing once an enclosing timeout two scopes out has answered the caller', async () => {
    const reasons: string[] = [];
    const inner = retry({ maxAttempts: 5, backoff: constantBackoff(10) });
    inner.onGiveUp((e) => reasons.push(e.reason));
    // The function ignores its signal: it fails only at 150 ms, after the outer timeout answered at 100.
    const fn = vi.fn(
      () =>
        new Promise((_r, reject) =>
          setTimeout(() => reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 150),
        ),
    );
    const p = compose(timeout(100), timeout(10_000), inner)
      .execute(fn)
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await p).toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(reasons).toEqual(['cancelled']);
  });
});
