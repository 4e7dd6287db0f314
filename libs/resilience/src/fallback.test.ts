import { describe, expect, it } from 'vitest';
import { circuitBreaker } from './circuit-breaker.ts';
import { compose } from './compose.ts';
import { BrokenCircuitError } from './errors.ts';
import { fallback } from './fallback.ts';

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

  it('can fall back asynchronously, using the error', async () => {
    const f = fallback(async (e) => `fallback for ${(e as Error).message}`);
    expect(await f.execute(() => Promise.reject(new Error('boom')))).toBe('fallback for boom');
  });
});
