import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { adaptiveConcurrency } from './adaptive-concurrency.ts';
import { bulkhead } from './bulkhead.ts';
import { circuitBreaker } from './circuit-breaker.ts';
import { constantBackoff } from './backoff.ts';
import { fallback } from './fallback.ts';
import { hedge } from './hedge.ts';
import { onResilienceEvent, type ResilienceEvent } from './events.ts';
import { retry } from './retry.ts';
import { timeout } from './timeout.ts';

let events: ResilienceEvent[] = [];
let subscription: { dispose(): void } | undefined;
beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  subscription = onResilienceEvent((e) => events.push(e));
});
afterEach(() => {
  subscription?.dispose();
  vi.useRealTimers();
});

const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
const never = (): Promise<never> => new Promise(() => undefined);

describe('one events hook across all policies', () => {
  it('reports retries and give-ups with the policy name', async () => {
    const p = retry({ name: 'users', maxAttempts: 2, backoff: constantBackoff(10) })
      .execute(() => Promise.reject(reset))
      .catch(() => undefined);
    await vi.advanceTimersByTimeAsync(10);
    await p;
    expect(events).toEqual([{ kind: 'retry', policy: 'users', attempt: 1, delayMs: 10, error: reset }]);
    events = [];
    await retry({ name: 'users', maxAttempts: 2 })
      .execute(() => Promise.reject(new Error('not transient')))
      .catch(() => undefined);
    expect(events).toMatchObject([{ kind: 'give-up', policy: 'users', attempt: 1, reason: 'not-retryable' }]);
  });

  it('reports timeouts, breaker transitions, bulkhead rejections and fallbacks', async () => {
    const t = timeout({ ms: 50, name: 't' })
      .execute(never)
      .catch(() => undefined);
    await vi.advanceTimersByTimeAsync(50);
    await t;
    const breaker = circuitBreaker({ name: 'b', mode: 'consecutive', consecutiveFailures: 1 });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    breaker.dispose();
    const bh = bulkhead(1, 0, { name: 'bh' });
    void bh.execute(never);
    await bh.execute(() => 1).catch(() => undefined);
    await fallback(() => 'cached', { name: 'fb' }).execute(() => Promise.reject(new Error('x')));
    expect(events.map((e) => [e.kind, e.policy])).toEqual([
      ['timeout', 't'],
      ['breaker-state', 'b'],
      ['bulkhead-rejected', 'bh'],
      ['fallback', 'fb'],
    ]);
    expect(events[0]).toEqual({ kind: 'timeout', policy: 't', timeoutMs: 50 });
    expect(events[1]).toEqual({ kind: 'breaker-state', policy: 'b', from: 0, to: 1 });
    expect(events[2]).toEqual({ kind: 'bulkhead-rejected', policy: 'bh', maxConcurrent: 1, maxQueue: 0 });
  });

  it('reports hedges, sheds and limit changes', async () => {
    const h = hedge({ name: 'h', delayMs: 20 }).execute(never);
    await vi.advanceTimersByTimeAsync(20);
    void h;
    const limited = adaptiveConcurrency({ name: 'ac', algorithm: 'aimd', initialLimit: 1 });
    void limited.execute(never);
    await limited.execute(() => 1).catch(() => undefined);
    const dropping = adaptiveConcurrency({ name: 'ac2', algorithm: 'aimd', initialLimit: 5 });
    await dropping.execute(() => Promise.reject(reset)).catch(() => undefined);
    expect(events).toEqual([
      { kind: 'hedge', policy: 'h', attempt: 2, afterMs: 20 },
      { kind: 'shed', policy: 'ac', limit: 1 },
      { kind: 'limit-change', policy: 'ac2', limit: 4, previous: 5 },
    ]);
  });

  it('emits nothing on success, and nothing after the subscriber disposed', async () => {
    await retry({ name: 'r' }).execute(() => 'ok');
    expect(events).toEqual([]);
    subscription!.dispose();
    await fallback(() => 1).execute(() => Promise.reject(new Error('x')));
    expect(events).toEqual([]);
  });
});

describe('default policy names in events', () => {
  it('names each policy after its kind when no name was given', async () => {
    const t = timeout(10)
      .execute(never)
      .catch(() => undefined);
    await vi.advanceTimersByTimeAsync(10);
    await t;
    const bh = bulkhead(1);
    void bh.execute(never);
    await bh.execute(() => 1).catch(() => undefined);
    await fallback(() => 0).execute(() => Promise.reject(new Error('x')));
    await retry({ maxAttempts: 2 })
      .execute(() => Promise.reject(new Error('not transient')))
      .catch(() => undefined);
    const h = hedge({ delayMs: 5 });
    void h.execute(never);
    await vi.advanceTimersByTimeAsync(5);
    const ac = adaptiveConcurrency({ initialLimit: 1 });
    void ac.execute(never);
    await ac.execute(() => 1).catch(() => undefined);
    expect(events.map((e) => `${e.kind}:${e.policy}`)).toEqual([
      'timeout:timeout',
      'bulkhead-rejected:bulkhead',
      'fallback:fallback',
      'give-up:retry',
      'hedge:hedge',
      'shed:adaptive-limit',
    ]);
  });
});
