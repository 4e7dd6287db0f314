import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bulkhead } from './bulkhead.ts';
import { compose } from './compose.ts';
import { BulkheadRejectedError, ErrorCodes, TimeoutError, isResilienceError } from './errors.ts';
import { timeout } from './timeout.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A controllable task. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return { open, run: vi.fn(() => done.then(() => 'done')) };
}

describe('bulkhead', () => {
  it('runs at most maxConcurrent, queues maxQueue and rejects the rest at once', async () => {
    const b = bulkhead(2, 1);
    const g = gate();
    const running = [b.execute(g.run), b.execute(g.run)];
    const queued = b.execute(g.run);
    expect(b.active).toBe(2);
    expect(b.queued).toBe(1);
    expect(g.run).toHaveBeenCalledTimes(2);
    const rejected = await b.execute(g.run).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BulkheadRejectedError);
    expect(isResilienceError(rejected, ErrorCodes.BULKHEAD_FULL)).toBe(true);
    g.open();
    expect(await Promise.all([...running, queued])).toEqual(['done', 'done', 'done']);
    expect(g.run).toHaveBeenCalledTimes(3);
    expect(b.active).toBe(0);
  });

  it('releases the slot when the call fails', async () => {
    const b = bulkhead(1);
    await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(b.active).toBe(0);
    expect(await b.execute(() => 1)).toBe(1);
  });

  it('drops a queued call whose caller aborted instead of giving it a slot', async () => {
    const b = bulkhead(1, 5);
    const g = gate();
    const first = b.execute(g.run);
    const controller = new AbortController();
    const skipped = vi.fn(() => 'ran');
    const abandoned = b.execute(skipped, { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('gone'));
    expect(await abandoned).toEqual(new Error('gone'));
    g.open();
    await first;
    await vi.advanceTimersByTimeAsync(0);
    expect(skipped).not.toHaveBeenCalled();
    expect(b.active).toBe(0);
  });

  it('drops a queued call whose timeout expired', async () => {
    const b = bulkhead(1, 5);
    const policy = compose(timeout(100), b);
    const g = gate();
    const first = b.execute(g.run);
    const late = vi.fn(() => 'ran');
    const p = policy.execute(late).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await p).toBeInstanceOf(TimeoutError);
    g.open();
    await first;
    expect(late).not.toHaveBeenCalled();
  });

  it('frees the queue place of a caller that aborted at once, so the next caller is queued, not rejected', async () => {
    const b = bulkhead(1, 1);
    const g = gate();
    const first = b.execute(g.run);
    const controller = new AbortController();
    const abandoned = b.execute(g.run, { signal: controller.signal }).catch((e: unknown) => e);
    expect(b.queued).toBe(1);
    controller.abort(new Error('gone'));
    expect(await abandoned).toEqual(new Error('gone'));
    expect(b.queued).toBe(0);
    const next = b.execute(g.run);
    expect(b.queued).toBe(1);
    g.open();
    expect(await Promise.all([first, next])).toEqual(['done', 'done']);
    expect(g.run).toHaveBeenCalledTimes(2);
    expect(b.queued).toBe(0);
    expect(b.active).toBe(0);
  });

  it('frees the queue place of a caller whose timeout expired', async () => {
    const b = bulkhead(1, 1);
    const g = gate();
    const first = b.execute(g.run);
    const late = compose(timeout(50), b)
      .execute(g.run)
      .catch((e: unknown) => e);
    expect(b.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(await late).toBeInstanceOf(TimeoutError);
    expect(b.queued).toBe(0);
    const next = b.execute(g.run);
    expect(b.queued).toBe(1);
    g.open();
    expect(await Promise.all([first, next])).toEqual(['done', 'done']);
  });

  it('keeps its memory bounded while callers keep giving up behind a call that hangs', async () => {
    const b = bulkhead(1, 10);
    const g = gate();
    const first = b.execute(g.run);
    for (let i = 0; i < 1_000; i++) {
      const controller = new AbortController();
      const p = b.execute(g.run, { signal: controller.signal }).catch(() => undefined);
      controller.abort();
      await p;
    }
    expect(b.queued).toBe(0);
    // The departed waiters were dropped from the internal array, not only uncounted.
    expect((b as unknown as { stage: { queue: unknown[] } }).stage.queue.length).toBeLessThan(200);
    g.open();
    await first;
    expect(g.run).toHaveBeenCalledTimes(1);
  });

  it('validates its sizes', () => {
    expect(() => bulkhead(0)).toThrow(/maxConcurrent/);
    expect(() => bulkhead(1, -1)).toThrow(/maxQueue/);
  });
});
