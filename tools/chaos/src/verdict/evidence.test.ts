import type { Fault } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { effectChecks, verdictOf } from './evidence.ts';
import type { Check } from './hypotheses.ts';

const fault = (over: Partial<Fault>): Fault => ({
  id: 'run-x/user-1/http-abort',
  experimentUid: 'run-x',
  targetId: 'user-1',
  kind: 'http-abort',
  specJson: '{}',
  phase: 'recovered',
  appliedAtMs: 0,
  expiresAtMs: 0,
  error: '',
  recoveredAtMs: 0,
  ...over,
});
const names = (id: string): string => ({ 'user-1': 'user-service', 'auth-1': 'auth-service' })[id] ?? id;

describe('effectChecks', () => {
  it('fails as evidence a fault it injected that no recovery returned (its agent died): inconclusive, not pass', () => {
    const measured = fault({
      effectJson: JSON.stringify({ took: true, summary: 'aborted 3 of 9 requests', figures: { seen: 9, affected: 3 } }),
    });
    const checks = effectChecks([measured], (id) => `svc(${id})`, [
      { target: 'user-1', kind: 'http-abort' },
      { target: 'auth-1', kind: 'http-delay' },
    ]);
    expect(checks.map((c) => [c.name, c.ok, c.evidence])).toEqual([
      ['fault took effect: http-delay on svc(auth-1)', false, true],
      ['fault took effect: http-abort on svc(user-1)', true, true],
    ]);
    expect(checks[0]!.measured).toMatch(/no record of it at recovery/);
    expect(verdictOf(checks)).toBe('inconclusive');
    // Two injections of one kind on one target need two records.
    const twice = [
      { target: 'user-1', kind: 'http-abort' },
      { target: 'user-1', kind: 'http-abort' },
    ];
    expect(effectChecks([measured], String, twice).filter((c) => !c.ok)).toHaveLength(1);
  });

  it('turns each recovered fault into a "took effect" check with what was measured at the target', () => {
    const checks = effectChecks(
      [
        fault({
          effectJson: JSON.stringify({
            took: true,
            summary: 'aborted 12 of 240 requests',
            figures: { seen: 240, affected: 12 },
          }),
        }),
        fault({
          targetId: 'auth-1',
          kind: 'cpu-stress',
          effectJson: JSON.stringify({
            took: false,
            summary: '1 worker at 31 % of a core each (asked 80 %) over 8.0 s',
            figures: {},
          }),
        }),
      ],
      names,
    );
    expect(checks).toEqual([
      {
        name: 'fault took effect: http-abort on user-service',
        ok: true,
        measured: 'aborted 12 of 240 requests',
        expected: 'an effect measured at the target',
        evidence: true,
      },
      {
        name: 'fault took effect: cpu-stress on auth-service',
        ok: false,
        measured: '1 worker at 31 % of a core each (asked 80 %) over 8.0 s',
        expected: 'an effect measured at the target',
        evidence: true,
      },
    ]);
  });

  it('counts a fault without a reported effect as no effect, and a failed undo as a failed check', () => {
    const checks = effectChecks(
      [fault({ phase: 'failed', error: 'recover failed: user-service did not acknowledge recover' })],
      names,
    );
    expect(checks).toEqual([
      {
        name: 'fault reverted: http-abort on user-service',
        ok: false,
        measured: 'recover failed: user-service did not acknowledge recover',
        expected: 'reverted',
      },
      {
        name: 'fault took effect: http-abort on user-service',
        ok: false,
        measured: 'no effect reported by the agent',
        expected: 'an effect measured at the target',
        evidence: true,
      },
    ]);
    expect(verdictOf(checks)).toBe('fail');
  });
});

describe('verdictOf', () => {
  const ok: Check = { name: 'error rate', ok: true, measured: '0 %', expected: '<= 1 %' };
  const bad: Check = { ...ok, ok: false };
  const took: Check = { name: 'fault took effect', ok: true, measured: 'x', expected: 'y', evidence: true };
  const noEffect: Check = { ...took, ok: false };

  it('passes only when every hypothesis held and every fault took effect', () => {
    expect(verdictOf([ok, took])).toBe('pass');
    expect(verdictOf([ok, noEffect])).toBe('inconclusive');
    expect(verdictOf([bad, took])).toBe('fail');
    expect(verdictOf([bad, noEffect])).toBe('fail');
    expect(verdictOf([ok, took], true)).toBe('fail');
  });
});
