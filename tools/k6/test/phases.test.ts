import { describe, expect, it } from 'vitest';
import { phaseAt, phaseFigures, phaseTable, phaseThresholds } from '../src/lib/phases.ts';

describe('per-phase verdicts', () => {
  it('puts each moment in its phase and declares thresholds per phase', () => {
    expect([0, 4999, 5000, 12999, 13000].map((t) => phaseAt(0, t, 5, 8))).toEqual([
      'baseline',
      'baseline',
      'fault',
      'fault',
      'recovery',
    ]);
    const t = phaseThresholds({
      baseline: { p95Ms: 500, errorRate: 0.01 },
      fault: { p95Ms: 1500, errorRate: 0.05 },
      recovery: { p95Ms: 500, errorRate: 0.01 },
    });
    expect(t['http_req_duration{phase:fault}']).toEqual(['p(95)<1500']);
    expect(t['http_req_failed{phase:recovery}']).toEqual(['rate<0.01']);
  });

  it('summarises k6 end-of-test data per phase, with threshold results', () => {
    const m = (avg: number, ok = true) => ({ values: { avg, 'p(95)': avg * 2 }, thresholds: { x: { ok } } });
    const f = (rate: number, passes: number, fails: number) => ({ values: { rate, passes, fails } });
    const figures = phaseFigures({
      metrics: {
        'http_req_duration{phase:baseline}': m(10),
        'http_req_duration{phase:baseline,journey:login}': m(12),
        'http_req_failed{phase:baseline}': f(0, 0, 100),
        'http_req_duration{phase:fault}': m(110, false),
        'http_req_duration{phase:fault,journey:login}': m(115),
        'http_req_failed{phase:fault}': f(0.02, 3, 147),
      },
    });
    expect(figures.baseline).toMatchObject({
      requests: 100,
      avgMs: 10,
      p95Ms: 20,
      loginAvgMs: 12,
      errorRate: 0,
      ok: true,
    });
    expect(figures.fault).toMatchObject({ requests: 150, errorRate: 0.02, ok: false });
    expect(figures.recovery.requests).toBe(0);
    expect(phaseTable(figures)).toMatch(/fault\s+150\s+110\.0\s+220\.0\s+115\.0\s+2\.00%\s+THRESHOLD FAILED/);
  });
});
