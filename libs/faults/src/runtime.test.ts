import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FaultSpecError, UnknownFaultError } from './errors.ts';
import { FaultRuntime, type FaultChange } from './runtime.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('FaultRuntime', () => {
  it('applies a fault idempotently and reverts it at lease expiry by itself', async () => {
    const rt = new FaultRuntime();
    const changes: FaultChange[] = [];
    rt.onChange((c) => changes.push(c));
    await rt.apply('exp-1/user', 'http-error', { status: 503 }, 1000);
    await rt.apply('exp-1/user', 'http-error', { status: 503 }, 1000);
    expect(rt.size).toBe(1);
    expect(rt.inbound.rules).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(rt.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rt.size).toBe(0);
    expect(rt.inbound.rules).toHaveLength(0);
    expect(changes.map((c) => (c.type === 'ended' ? `ended:${c.reason}` : c.type))).toEqual([
      'applied',
      'ended:expired',
    ]);
  });

  it('recovers idempotently, and recoverAll reverts everything', async () => {
    const rt = new FaultRuntime();
    await rt.apply('a', 'http-delay', { latencyMs: 10 }, 60_000);
    await rt.apply('b', 'net-error', { status: 502, target: 'user-service' }, 60_000);
    expect(await rt.recover('a')).toBe(true);
    expect(await rt.recover('a')).toBe(false);
    expect(await rt.recover('never')).toBe(false);
    await rt.recoverAll('agent-lost');
    expect(rt.size).toBe(0);
    expect(rt.outbound.rules).toHaveLength(0);
  });

  it('rejects unknown kinds, bad specs and unsupported actions with clear errors, applying nothing', async () => {
    const rt = new FaultRuntime();
    const unknown = await rt.apply('x', 'http-teleport', {}, 1000).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(UnknownFaultError);
    expect((unknown as Error).message).toMatch(
      /unknown fault kind "http-teleport"; known kinds: http-delay, http-abort/,
    );
    const bad = await rt.apply('x', 'http-delay', { latencyMs: -5 }, 1000).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FaultSpecError);
    expect((bad as FaultSpecError).field).toBe('latencyMs');
    expect((bad as Error).message).toBe('http-delay: spec.latencyMs must be a number between 0 and 600000, got -5');
    const typo = await rt.apply('x', 'http-delay', { latencyMs: 5, jiter: 2 }, 1000).catch((e: unknown) => e);
    expect((typo as Error).message).toMatch(
      /spec.jiter is not a field of http-delay; valid fields: latencyMs, jitterMs/,
    );
    const dns = await rt
      .apply('x', 'dns-fault', { action: 'error', patterns: ['user-*-service'] }, 1000)
      .catch((e: unknown) => e);
    expect((dns as Error).message).toBe(
      'dns-fault: spec.patterns[0] "user-*-service" is not a domain template: "?" matches one character, "*" only at the end',
    );
    await expect(rt.apply('x', 'http-abort', {}, 0)).rejects.toThrow(/leaseMs must be > 0/);
    await expect(rt.apply('x', 'http-abort', { percent: 101 }, 10)).rejects.toThrow(
      /spec.percent must be a number between 0 and 100/,
    );
    expect(rt.size).toBe(0);
    expect(rt.inbound.rules).toHaveLength(0);
  });
});
