import { describe, expect, it } from 'vitest';
import { adaptiveConcurrency } from './adaptive-concurrency.ts';
import { circuitBreaker } from './circuit-breaker.ts';
import { compose } from './compose.ts';
import { ConcurrencyLimitError, ErrorCodes, HttpStatusError, isResilienceError } from './errors.ts';
import { retry } from './retry.ts';

function gate() {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return { open, run: () => done.then(() => 'done') };
}

describe('adaptiveConcurrency', () => {
  it('sheds calls beyond the limit at once, without running them, and frees places as calls end', async () => {
    const policy = adaptiveConcurrency({ initialLimit: 2 });
    const g = gate();
    const running = [policy.execute(g.run), policy.execute(g.run)];
    let ran = false;
    const shed = await policy
      .execute(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(shed).toBeInstanceOf(ConcurrencyLimitError);
    expect(isResilienceError(shed, ErrorCodes.CONCURRENCY_LIMIT)).toBe(true);
    expect(policy.limiter.inFlight).toBe(2);
    g.open();
    await Promise.all(running);
    expect(policy.limiter.inFlight).toBe(0);
    expect(await policy.execute(() => 'again')).toBe('again');
  });

  it('counts an upstream failure as a drop, and neither a 4xx nor a caller abort', async () => {
    const policy = adaptiveConcurrency({ algorithm: 'aimd', initialLimit: 10 });
    await policy.execute(() => Promise.reject(new HttpStatusError(503, 'u', undefined, ''))).catch(() => undefined);
    expect(policy.limiter.limit).toBe(9);
    await policy.execute(() => Promise.reject(Object.assign(new Error('nope'), { statusCode: 404 }))).catch(() => 0);
    await policy.execute(() => Promise.reject(new DOMException('gone', 'AbortError'))).catch(() => 0);
    expect(policy.limiter.limit).toBe(9);
    expect(policy.limiter.inFlight).toBe(0);
  });

  it('is neither retried nor counted by a breaker: shedding is our own decision, not the upstream failing', async () => {
    const breaker = circuitBreaker({ mode: 'consecutive', consecutiveFailures: 1 });
    const limited = adaptiveConcurrency({ initialLimit: 1 });
    const policy = compose(retry({ maxAttempts: 3 }), breaker, limited);
    const g = gate();
    const first = policy.execute(g.run);
    let calls = 0;
    const shed = await policy
      .execute(() => {
        calls++;
      })
      .catch((e: unknown) => e);
    expect(isResilienceError(shed, ErrorCodes.CONCURRENCY_LIMIT)).toBe(true);
    expect(calls).toBe(0);
    expect(breaker.state).toBe(0);
    g.open();
    await first;
    breaker.dispose();
  });
});

describe('adaptiveConcurrency options', () => {
  it('shares a limiter and takes a custom drop predicate', async () => {
    const { AdaptiveLimiter } = await import('./adaptive-limit.ts');
    const shared = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 10 });
    const a = adaptiveConcurrency({ limiter: shared });
    const b = adaptiveConcurrency({ limiter: shared, isDrop: (e) => (e as Error).message === 'overloaded' });
    expect(a.limiter).toBe(shared);
    await b.execute(() => Promise.reject(new Error('overloaded'))).catch(() => undefined);
    expect(shared.limit).toBe(9);
    await b.execute(() => Promise.reject(new HttpStatusError(503, 'u', undefined, ''))).catch(() => undefined);
    expect(shared.limit).toBe(9); // not a drop by this predicate
  });
});
