// Per-phase verdicts for k6: thresholds are global over a run, so requests are tagged by phase (baseline,
// fault, recovery) and thresholds are declared per tag; handleSummary prints a table per phase and writes
// JSON the harness's report can include.

export const PHASES = ['baseline', 'fault', 'recovery'] as const;
export type Phase = (typeof PHASES)[number];

/** The phase a moment belongs to, given when the run started and the phase lengths (s). */
export function phaseAt(startMs: number, nowMs: number, baselineS: number, faultS: number): Phase {
  const t = (nowMs - startMs) / 1000;
  if (t < baselineS) return 'baseline';
  if (t < baselineS + faultS) return 'fault';
  return 'recovery';
}

/** Thresholds for each phase (so each appears in the summary): latency ceilings and error-rate ceilings. */
export function phaseThresholds(limits: Record<Phase, { p95Ms: number; errorRate: number }>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of PHASES) {
    out[`http_req_duration{phase:${p}}`] = [`p(95)<${limits[p].p95Ms}`];
    out[`http_req_duration{phase:${p},journey:login}`] = [`p(95)<${limits[p].p95Ms}`];
    out[`http_req_failed{phase:${p}}`] = [`rate<${limits[p].errorRate}`];
  }
  return out;
}

interface MetricValues {
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

/** Per-phase figures from k6's end-of-test data. */
export function phaseFigures(data: {
  metrics: Record<string, MetricValues>;
}): Record<
  Phase,
  { requests: number; avgMs: number; p95Ms: number; loginAvgMs: number; errorRate: number; ok: boolean }
> {
  const out = {} as ReturnType<typeof phaseFigures>;
  for (const p of PHASES) {
    const d = data.metrics[`http_req_duration{phase:${p}}`];
    const login = data.metrics[`http_req_duration{phase:${p},journey:login}`];
    const f = data.metrics[`http_req_failed{phase:${p}}`];
    const thresholdsOk = [d, login, f].every((m) => !m?.thresholds || Object.values(m.thresholds).every((t) => t.ok));
    out[p] = {
      requests: (f?.values['passes'] ?? 0) + (f?.values['fails'] ?? 0),
      avgMs: round(d?.values['avg']),
      p95Ms: round(d?.values['p(95)']),
      loginAvgMs: round(login?.values['avg']),
      errorRate: round(f?.values['rate'], 4),
      ok: thresholdsOk,
    };
  }
  return out;
}

function round(x: number | undefined, digits = 1): number {
  const k = 10 ** digits;
  return Math.round((x ?? 0) * k) / k;
}

/** The table handleSummary prints. */
export function phaseTable(figures: ReturnType<typeof phaseFigures>): string {
  const rows = PHASES.map((p) => {
    const f = figures[p];
    return `${p.padEnd(10)}${String(f.requests).padStart(9)}${f.avgMs.toFixed(1).padStart(10)}${f.p95Ms.toFixed(1).padStart(10)}${f.loginAvgMs.toFixed(1).padStart(12)}${(f.errorRate * 100).toFixed(2).padStart(9)}%  ${f.ok ? 'ok' : 'THRESHOLD FAILED'}`;
  });
  return ['phase      requests   avg(ms)   p95(ms)  login(ms)   errors', ...rows].join('\n');
}
