import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { circuitBreaker } from './circuit-breaker.ts';
import { compose } from './compose.ts';
import { BrokenCircuitError } from './errors.ts';
import { fallback } from './fallback.ts';
import { timeout } from './timeout.ts';

describe('fallback', () => {
  it('answers with the fallback value when the call fails, and reports it', async () => {
    const f = fallback(() => 'cached');
    const used: unknown[] = [];
    f.onFallback((e) => used.push(e.error));
    const err = new Error('down');
    expect(await f.execute(() => Promise.reject(err))).toBe('cached');
    expect(used).toEqual([err]);
    expect(await f.execute(() => 'live')).toBe('live');
    expect(used).toHaveLength(1);
  });

  it('answers only the errors its predicate selects', async () => {
    const f = fallback(() => 'stale', { when: (e) => e instanceof BrokenCircuitError });
    await expect(f.execute(() => Promise.reject(new Error('bug')))).rejects.toThrow('bug');
    const b = circuitBreaker();
    const handle = b.isolate();
    expect(await compose(f, b).execute(() => 'live')).toBe('stale');
    handle.dispose();
    b.dispose();
  });

  it('does not substitute an answer for a caller who aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('bye'));
    const f = fallback(() => 'x');
    await expect(f.execute(() => 'y', { signal: controller.signal })).rejects.toThrow('bye');
  });

  it('does not produce a substitute, nor report one, when the caller aborts while the call runs', async () => {
    const controller = new AbortController();
    const produce = vi.fn(() => 'substitute');
    const f = fallback(produce);
    const used = vi.fn();
    f.onFallback(used);
    const p = f.execute(
      (ctx) =>
        new Promise<string>((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
      { signal: controller.signal },
    );
    controller.abort(new Error('caller left'));
    await expect(p).rejects.toThrow('caller left');
    await new Promise((r) => setImmediate(r));
    expect(produce).not.toHaveBeenCalled();
    expect(used).not.toHaveBeenCalled();
  });

  it("types the answer as the function's result or the fallback's value, through compose", async () => {
    const composed = compose(
      fallback(() => 42),
      timeout(1_000),
    );
    const p = composed.execute(async () => 'live');
    expectTypeOf(p).resolves.toEqualTypeOf<string | number>();
    expect(await composed.execute(() => Promise.reject(new Error('down')))).toBe(42);
    expectTypeOf(compose(timeout(1_000)).execute(async () => 'x')).resolves.toEqualTypeOf<string>();
  });

  it('can fall back asynchronously, using the error', async () => {
    const f = fallback(async (e) => `fallback for ${(e as Error).message}`);
    expect(await f.execute(() => Promise.reject(new Error('boom')))).toBe('fallback for boom');
  });
});
