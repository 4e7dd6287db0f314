import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compose } from './compose.ts';
import { ambientDeadline, currentDeadline, withDeadline } from './deadline-context.ts';
import { budgetFromHeaders, deadlineFromHeaders, MAX_BUDGET_MS } from './deadline.ts';
import { DeadlineExceededError } from './errors.ts';
import { timeout } from './timeout.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const scope = (deadline: number) => ({ deadline, signal: new AbortController().signal });

describe('budgetFromHeaders', () => {
  it("reads x-request-deadline-ms, else gRPC's grpc-timeout in every unit", () => {
    expect(budgetFromHeaders({ 'x-request-deadline-ms': '250' })).toBe(250);
    expect(budgetFromHeaders({ 'x-request-deadline-ms': ['40', '90'] })).toBe(40);
    expect(budgetFromHeaders({ 'grpc-timeout': '2S' })).toBe(2_000);
    expect(budgetFromHeaders({ 'grpc-timeout': '1M' })).toBe(60_000);
    expect(budgetFromHeaders({ 'grpc-timeout': '1H' })).toBe(3_600_000);
    expect(budgetFromHeaders({ 'grpc-timeout': '750m' })).toBe(750);
    expect(budgetFromHeaders({ 'grpc-timeout': '1500u' })).toBe(1.5);
    expect(budgetFromHeaders({ 'grpc-timeout': '2000000n' })).toBe(2);
    expect(budgetFromHeaders({ 'x-request-deadline-ms': '100', 'grpc-timeout': '9S' })).toBe(100);
  });

  it('ignores malformed values and caps absurd ones at one hour', () => {
    for (const bad of ['', '-1', '1.5', 'abc', '12345678901']) {
      expect(budgetFromHeaders({ 'x-request-deadline-ms': bad })).toBeUndefined();
    }
    for (const bad of ['5', '5s', '123456789S', 'S', '1 S'])
      expect(budgetFromHeaders({ 'grpc-timeout': bad })).toBeUndefined();
    expect(budgetFromHeaders({ 'grpc-timeout': '99999999H' })).toBe(MAX_BUDGET_MS);
    expect(budgetFromHeaders({ 'x-request-deadline-ms': '9999999999' })).toBe(MAX_BUDGET_MS);
    expect(budgetFromHeaders({})).toBeUndefined();
    expect(deadlineFromHeaders({})).toBeUndefined();
  });
});

describe('ambient deadline', () => {
  it('is Infinity outside a scope and the scope’s deadline inside it, across awaits', async () => {
    expect(ambientDeadline()).toBe(Infinity);
    const seen = withDeadline(scope(500), async () => {
      await Promise.resolve();
      await new Promise((r) => setTimeout(r, 1));
      return ambientDeadline();
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(await seen).toBe(500);
    expect(currentDeadline()).toBeUndefined();
  });

  it('never gives a nested scope more time than the enclosing one', () => {
    withDeadline(scope(100), () => {
      expect(withDeadline(scope(900), () => ambientDeadline())).toBe(100);
      expect(withDeadline(scope(50), () => ambientDeadline())).toBe(50);
    });
  });

  it('bounds every policy executed inside it: the context sees it, and work past it is cut', async () => {
    const policy = compose(timeout(10_000));
    const start = performance.now();
    await withDeadline(scope(start + 200), async () => {
      expect(await policy.execute((ctx) => ctx.deadline)).toBe(start + 200);
      // An explicit deadline that comes first still wins.
      expect(await policy.execute((ctx) => ctx.deadline, { deadline: start + 50 })).toBe(start + 50);
      const cut = policy.execute(() => new Promise(() => undefined)).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(200);
      expect(await cut).toBeInstanceOf(DeadlineExceededError);
      // Past the deadline, work is not started at all.
      let ran = false;
      const late = await policy
        .execute(() => {
          ran = true;
        })
        .catch((e: unknown) => e);
      expect(late).toBeInstanceOf(DeadlineExceededError);
      expect(ran).toBe(false);
    });
  });
});

describe('deadline details', () => {
  it('exposes the scope in force, and the header value of a deadline', async () => {
    const { deadlineHeaderValue } = await import('./deadline.ts');
    const s = scope(performance.now() + 250);
    withDeadline(s, () => expect(currentDeadline()).toBe(s));
    expect(deadlineHeaderValue(Infinity)).toBeUndefined();
    expect(deadlineHeaderValue(performance.now() + 250.7)).toBe('250');
    expect(deadlineHeaderValue(performance.now() - 5)).toBe('0');
    expect(budgetFromHeaders({ 'grpc-timeout': '5Sx' })).toBeUndefined();
    expect(budgetFromHeaders({ 'grpc-timeout': 'x5S' })).toBeUndefined();
  });
});
