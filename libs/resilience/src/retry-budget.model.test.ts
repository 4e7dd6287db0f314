import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RetryBudget } from './retry-budget.ts';

/**
 * Model-based test: random sequences of requests, retries and clock steps against a reference model that
 * keeps every event with its time and counts, at each call, those whose 1/10-window bucket is among the last
 * ten (the current one included): a retry is allowed while retries + 1 ≤ reserve + ratio × requests.
 */
interface Model {
  ratio: number;
  reserve: number;
  bucketMs: number;
  now: number;
  events: Array<{ at: number; kind: 'request' | 'retry' }>;
}
interface Real {
  budget: RetryBudget;
}

const inWindow = (m: Model, kind: 'request' | 'retry'): number => {
  const current = Math.floor(m.now / m.bucketMs);
  return m.events.filter((e) => e.kind === kind && current - Math.floor(e.at / m.bucketMs) < 10).length;
};
const available = (m: Model): number =>
  Math.max(0, Math.floor(m.reserve + m.ratio * inWindow(m, 'request') - inWindow(m, 'retry')));

class Request implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.budget.recordRequest();
    m.events.push({ at: m.now, kind: 'request' });
    expect(r.budget.available).toBe(available(m));
  }
  toString = (): string => 'request';
}

class Retry implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const allowed = inWindow(m, 'retry') + 1 <= m.reserve + m.ratio * inWindow(m, 'request');
    expect(r.budget.tryAcquireRetry()).toBe(allowed);
    if (allowed) m.events.push({ at: m.now, kind: 'retry' });
    expect(r.budget.available).toBe(available(m));
  }
  toString = (): string => 'retry';
}

class Tick implements fc.Command<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    vi.advanceTimersByTime(this.ms);
    m.now += this.ms;
    expect(r.budget.available).toBe(available(m));
  }
  toString = (): string => `tick(${this.ms})`;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RetryBudget against a reference model', () => {
  it('allows exactly the retries the model allows, on every random sequence', () => {
    const commands = [
      fc.constant(new Request()),
      fc.constant(new Retry()),
      fc.integer({ min: 1, max: 2_500 }).map((ms) => new Tick(ms)),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0.1, 0.2, 0.5, 1),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(1_000, 10_000),
        fc.commands(commands, { maxCommands: 80 }),
        (ratio, minRetriesPerSecond, windowMs, cmds) => {
          const start = performance.now();
          const setup = () => ({
            model: {
              ratio,
              reserve: (minRetriesPerSecond * windowMs) / 1000,
              bucketMs: windowMs / 10,
              now: start,
              events: [],
            } as Model,
            real: { budget: new RetryBudget({ ratio, minRetriesPerSecond, windowMs }) },
          });
          fc.modelRun(setup, cmds);
        },
      ),
      { numRuns: 300 },
    );
  });
});
