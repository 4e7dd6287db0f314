import { describe, expect, it } from 'vitest';
import { evaluate, hypothesesFrom } from './hypotheses.ts';
import type { Sample } from './load.ts';
import type { Observer } from './observe.ts';

const noObservations = { between: () => [] } as unknown as Observer;
const phases = { baselineStart: 0, faultStart: 1_000, faultEnd: 2_000, recoveredAt: 2_500 };
const sample = (
  at: number,
  ok: boolean,
  journey = 'read-profile',
  status: number | string = ok ? 200 : 503,
): Sample => ({ at, journey, latencyMs: 5, ok, status });

describe('evaluate', () => {
  it('judges the error rate in the fault window only, and names which calls failed and how', () => {
    const samples = [
      sample(500, false), // baseline: not counted
      ...Array.from({ length: 96 }, (_, i) => sample(1_000 + i * 10, true)),
      sample(1_100, false, 'login', 503),
      sample(1_200, false, 'read-profile', 'UND_ERR_SOCKET'),
      sample(1_300, false, 'login', 503),
      sample(1_400, false, 'login', 503),
      sample(2_000, false), // after the window's end: not counted
    ];
    const [rate] = evaluate(hypothesesFrom({ 'nova.dev/max-error-rate': '0.05' }), samples, noObservations, phases, 0);
    expect(rate).toEqual({
      name: 'error rate during the fault',
      ok: true,
      measured: '4.0 % (4/100: login 503 ×3, read-profile UND_ERR_SOCKET ×1)',
      expected: '<= 5.0 %',
    });
    const [strict] = evaluate(
      hypothesesFrom({ 'nova.dev/max-error-rate': '0.03' }),
      samples,
      noObservations,
      phases,
      0,
    );
    expect(strict!.ok).toBe(false);
  });

  it('says nothing more than the count when no call failed', () => {
    const [rate] = evaluate(hypothesesFrom({}), [sample(1_500, true)], noObservations, phases, 0);
    expect(rate!.measured).toBe('0.0 % (0/1)');
  });

  it('fails recovery that never came and a fault left behind', () => {
    const checks = evaluate(hypothesesFrom({}), [], noObservations, { ...phases, recoveredAt: undefined }, 1);
    expect(checks.find((c) => c.name === 'recovery after the fault')).toMatchObject({
      ok: false,
      measured: 'not recovered',
    });
    expect(checks.find((c) => c.name === 'no fault left behind')).toMatchObject({ ok: false, measured: '1 active' });
  });
});
