import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hedge, type HedgeEvent } from './hedge.ts';
import { RetryBudget } from './retry-budget.ts';
import type { PolicyContext } from './policy.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** An attempt that answers `value` after `ms` (or never), and records whether its signal was aborted. */
function attempts(plan: Array<{ ms: number; value?: string; error?: Error }>) {
  const seen: Array<{ attempt: number; signal: AbortSignal }> = [];
  const fn = vi.fn((ctx: PolicyContext) => {
    const step = plan[seen.length] ?? plan[plan.length - 1]!;
    seen.push({ attempt: ctx.attempt, signal: ctx.signal });
    return new Promise<string>((resolve, reject) => {
      if (step.ms === Infinity) return;
      setTimeout(() => (step.error ? reject(step.error) : resolve(step.value ?? 'ok')), step.ms);
    });
  });
  return { fn, seen };
}

describe('hedge', () => {
  it('sends a second attempt after the delay; the first answer wins and the other is aborted', async () => {
    const h = hedge({ delayMs: 50 });
    const events: HedgeEvent[] = [];
    h.onHedge((e) => events.push(e));
    const { fn, seen } = attempts([{ ms: Infinity }, { ms: 10, value: 'hedge' }]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(49);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(events).toEqual([{ attempt: 2, afterMs: 50 }]);
    await vi.advanceTimersByTimeAsync(10);
    expect(await p).toBe('hedge');
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(seen[0]!.signal.aborted).toBe(true);
    expect((seen[0]!.signal.reason as Error).name).toBe('AbortError');
    expect(seen[1]!.signal.aborted).toBe(false);
  });

  it('sends no hedge when the first attempt answers in time, not even later', async () => {
    const h = hedge({ delayMs: 50 });
    const { fn } = attempts([{ ms: 20, value: 'first' }]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(20);
    expect(await p).toBe('first');
    await vi.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('aborts the hedge when the first attempt wins after it was sent', async () => {
    const h = hedge({ delayMs: 50 });
    const { fn, seen } = attempts([
      { ms: 60, value: 'first' },
      { ms: 100, value: 'hedge' },
    ]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(60);
    expect(await p).toBe('first');
    expect(seen[1]!.signal.aborted).toBe(true);
    expect(seen[0]!.signal.aborted).toBe(false);
  });

  it('does not hedge a failure: a first attempt that fails before the delay fails the call', async () => {
    const h = hedge({ delayMs: 50 });
    const { fn } = attempts([{ ms: 10, error: new Error('boom') }]);
    const p = h.execute(fn).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(((await p) as Error).message).toBe('boom');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('waits for the hedge when the first attempt fails after it was sent', async () => {
    const h = hedge({ delayMs: 50 });
    const { fn } = attempts([
      { ms: 70, error: new Error('first failed') },
      { ms: 40, value: 'hedge' },
    ]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(90);
    expect(await p).toBe('hedge');
  });

  it('fails with the last error once every attempt failed', async () => {
    const h = hedge({ delayMs: 50 });
    const { fn } = attempts([
      { ms: 70, error: new Error('first') },
      { ms: 40, error: new Error('second') },
    ]);
    const p = h.execute(fn).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(((await p) as Error).message).toBe('second');
  });

  it('sends up to maxHedges, each one delay after the previous', async () => {
    const h = hedge({ delayMs: 30, maxHedges: 2 });
    const { fn, seen } = attempts([{ ms: Infinity }, { ms: Infinity }, { ms: 5, value: 'third' }]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(30);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(30);
    expect(fn).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(5);
    expect(await p).toBe('third');
    expect(seen.map((s) => s.signal.aborted)).toEqual([true, true, false]);
    await vi.advanceTimersByTimeAsync(200);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('takes hedges from the budget and sends none once it is spent', async () => {
    const budget = new RetryBudget({ ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000 }); // one hedge
    const h = hedge({ delayMs: 10, budget });
    const first = attempts([{ ms: 50, value: 'a' }]);
    const p1 = h.execute(first.fn);
    await vi.advanceTimersByTimeAsync(50);
    await p1;
    expect(first.fn).toHaveBeenCalledTimes(2);
    const second = attempts([{ ms: 50, value: 'b' }]);
    const p2 = h.execute(second.fn);
    await vi.advanceTimersByTimeAsync(50);
    expect(await p2).toBe('b');
    expect(second.fn).toHaveBeenCalledTimes(1);
  });

  it('hedges after the percentile of recent latencies, and not before it has enough samples', async () => {
    const h = hedge({ percentile: 0.9, minSamples: 10 });
    expect(h.delayMs).toBe(Infinity);
    for (let i = 1; i <= 10; i++) {
      const { fn } = attempts([{ ms: i * 10, value: 'x' }]); // 10 … 100 ms
      const p = h.execute(fn);
      await vi.advanceTimersByTimeAsync(i * 10);
      await p;
      expect(fn).toHaveBeenCalledTimes(1); // no hedge while learning
    }
    expect(h.delayMs).toBe(90);
    const { fn } = attempts([{ ms: Infinity }, { ms: 1, value: 'hedged' }]);
    const p = h.execute(fn);
    await vi.advanceTimersByTimeAsync(89);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(await p).toBe('hedged');
  });

  it('sends no hedge after the caller aborted', async () => {
    const h = hedge({ delayMs: 20 });
    const { fn } = attempts([{ ms: Infinity }]);
    const caller = new AbortController();
    const p = h.execute(fn, { signal: caller.signal }).catch((e: unknown) => e);
    caller.abort(new Error('caller gave up'));
    await vi.advanceTimersByTimeAsync(100);
    expect(((await p) as Error).message).toBe('caller gave up');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('refuses nonsense options', () => {
    expect(() => hedge({ delayMs: -1 })).toThrow(/delayMs/);
    expect(() => hedge({ maxHedges: 0 })).toThrow(/maxHedges/);
    expect(() => hedge({ percentile: 1.5 })).toThrow(/percentile/);
  });
});

describe('hedge details', () => {
  it('hedges at once with a delay of 0, and after the default p95 of the last 20 calls', async () => {
    const now0 = hedge({ delayMs: 0 });
    expect(now0.delayMs).toBe(0);
    const { fn } = attempts([{ ms: Infinity }, { ms: 1, value: 'hedge' }]);
    const p = now0.execute(fn);
    await vi.advanceTimersByTimeAsync(2);
    expect(await p).toBe('hedge');

    const learnt = hedge();
    for (let i = 1; i <= 19; i++) {
      const a = attempts([{ ms: i, value: 'x' }]);
      const q = learnt.execute(a.fn);
      await vi.advanceTimersByTimeAsync(i);
      await q;
    }
    expect(learnt.delayMs).toBe(Infinity);
    const last = attempts([{ ms: 20, value: 'x' }]);
    const q = learnt.execute(last.fn);
    await vi.advanceTimersByTimeAsync(20);
    await q;
    expect(learnt.delayMs).toBe(19); // ceil(0.95 × 20) = the 19th of 1 … 20 ms
  });

  it('sends one hedge by default, however long both attempts hang', async () => {
    const h = hedge({ delayMs: 10 });
    const { fn } = attempts([{ ms: Infinity }]);
    void h.execute(fn);
    await vi.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('hedges each of many concurrent calls at its own time, skipping those that answered', async () => {
    const h = hedge({ delayMs: 50 });
    const calls: Array<ReturnType<typeof attempts>> = [];
    for (let i = 0; i < 5; i++) {
      const a = attempts(i % 2 === 1 ? [{ ms: 5, value: 'quick' }] : [{ ms: Infinity }]);
      calls.push(a);
      void h.execute(a.fn);
      await vi.advanceTimersByTimeAsync(10);
    }
    // Started at 0, 10, 20, 30, 40 ms; calls 1 and 3 answered after 5 ms.
    await vi.advanceTimersByTimeAsync(0); // now 50: call 0 is due
    expect(calls.map((c) => c.fn.mock.calls.length)).toEqual([2, 1, 1, 1, 1]);
    await vi.advanceTimersByTimeAsync(20); // 70: call 2 is due
    expect(calls.map((c) => c.fn.mock.calls.length)).toEqual([2, 1, 2, 1, 1]);
    await vi.advanceTimersByTimeAsync(20); // 90: call 4 is due
    expect(calls.map((c) => c.fn.mock.calls.length)).toEqual([2, 1, 2, 1, 2]);
  });

  it('records each call once in the latency window, at the wait its caller saw', async () => {
    const h = hedge({ percentile: 1, minSamples: 1 });
    const a = attempts([{ ms: 30, value: 'x' }]);
    const p = h.execute(a.fn);
    await vi.advanceTimersByTimeAsync(30);
    await p;
    expect(h.delayMs).toBe(30);
  });
});
