import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sample } from '../verdict/load.ts';
import type { Observation } from '../verdict/observe.ts';
import type { ExperimentResult } from '../run/runner.ts';
import type { Trend } from './history.ts';

/** Everything a run produced. */
export interface RunReport {
  runId: string;
  seed: number;
  startedAt: string;
  finishedAt: string;
  environment: string;
  results: ExperimentResult[];
  samples: Sample[];
  observations: Observation[];
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/**
 * The ANSI colour of each verdict in a terminal (green, red, yellow, grey): inconclusive is neither a pass
 * nor a failure. The caller decides whether the output is a terminal (`util.styleText` would decide by itself).
 */
const VERDICT_COLOR: Record<ExperimentResult['verdict'], number> = {
  pass: 32,
  fail: 31,
  error: 31,
  inconclusive: 33,
  skipped: 90,
};

/** The verdict table for the terminal; `color` paints each verdict (for a TTY). */
export function verdictTable(results: readonly ExperimentResult[], options: { color?: boolean } = {}): string {
  const rows = results.map((r) => {
    const failed = r.checks.filter((c) => !c.ok);
    // A pass shows what the fault did at its target first, then the first hypothesis.
    const shown = [...r.checks.filter((c) => c.evidence), ...r.checks.filter((c) => !c.evidence).slice(0, 1)];
    const detail =
      r.reason ??
      (failed.length
        ? failed.map((c) => `${c.name}: ${c.measured} (expected ${c.expected})`).join('; ')
        : shown.map((c) => `${c.name} ${c.measured}`).join('; '));
    return [r.verdict.toUpperCase(), `${r.kind}/${r.name}`, `${r.durationSeconds.toFixed(0)}s`, detail];
  });
  const widths = [Math.max(7, ...rows.map((r) => r[0]!.length)), Math.max(10, ...rows.map((r) => r[1]!.length)), 5];
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
  const paint = (text: string, r: ExperimentResult): string =>
    options.color
      ? text.replace(r.verdict.toUpperCase(), `\x1b[${VERDICT_COLOR[r.verdict]}m${r.verdict.toUpperCase()}\x1b[39m`)
      : text;
  return [
    line(['VERDICT', 'EXPERIMENT', 'TIME', 'EVIDENCE']),
    ...rows.map((row, i) => paint(line(row), results[i]!)),
  ].join('\n');
}

/** JUnit XML: one testcase per experiment, one failure per failed check. */
export function junit(report: RunReport): string {
  // An inconclusive experiment fails the build like a failed one: nothing was proven.
  const failures = report.results.filter((r) => r.verdict === 'fail' || r.verdict === 'inconclusive').length;
  const errors = report.results.filter((r) => r.verdict === 'error').length;
  const skipped = report.results.filter((r) => r.verdict === 'skipped').length;
  const total = report.results.reduce((s, r) => s + r.durationSeconds, 0);
  const cases = report.results.map((r) => {
    const body =
      r.verdict === 'fail' || r.verdict === 'inconclusive'
        ? r.checks
            .filter((c) => !c.ok)
            .map(
              (c) =>
                `<failure type="${r.verdict}" message="${esc(`${c.name}: ${c.measured}, expected ${c.expected}`)}"/>`,
            )
            .join('')
        : r.verdict === 'error'
          ? `<error message="${esc(r.reason ?? 'error')}"/>`
          : r.verdict === 'skipped'
            ? `<skipped message="${esc(r.reason ?? '')}"/>`
            : '';
    const out = r.checks
      .map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.measured} (expected ${c.expected})`)
      .join('\n');
    return `  <testcase classname="chaos.${esc(r.kind)}" name="${esc(r.name)}" file="${esc(r.file)}" time="${r.durationSeconds.toFixed(3)}">${body}<system-out>${esc(out)}</system-out></testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n <testsuite name="nova-chaos ${esc(report.runId)}" tests="${report.results.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${total.toFixed(3)}" timestamp="${report.startedAt}">\n${cases.join('\n')}\n </testsuite>\n</testsuites>\n`;
}

/** Per-second series of p50, p99 and error rate. */
export function series(
  samples: readonly Sample[],
): Array<{ t: number; p50: number; p99: number; errorRate: number; count: number }> {
  const buckets = new Map<number, Sample[]>();
  for (const s of samples) {
    const b = Math.floor(s.at / 1000);
    buckets.set(b, [...(buckets.get(b) ?? []), s]);
  }
  const q = (xs: number[], p: number): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  };
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([t, xs]) => ({
      t,
      p50: Math.round(
        q(
          xs.map((x) => x.latencyMs),
          50,
        ),
      ),
      p99: Math.round(
        q(
          xs.map((x) => x.latencyMs),
          99,
        ),
      ),
      errorRate: xs.filter((x) => !x.ok).length / xs.length,
      count: xs.length,
    }));
}

// The UMD build is not in chart.js's `exports`; it sits beside the entry point.
const chartJs = (): string =>
  readFileSync(join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'), 'utf8');

/**
 * A self-contained HTML report: the verdicts, latency p50/p99 and error rate over time with each fault window
 * shaded, and the circuit-breaker timeline, drawn by Chart.js (inlined: no CDN at view time).
 */
export function html(report: RunReport, trend?: Trend): string {
  const s = series(report.samples);
  const windows = report.results
    .filter((r) => r.phases)
    .map((r) => ({ name: r.name, from: r.phases!.faultStart / 1000, to: r.phases!.faultEnd / 1000 }));
  const breakerKeys = [...new Set(report.observations.flatMap((o) => Object.keys(o.breakers)))].sort();
  const data = {
    labels: s.map((x) => x.t),
    p50: s.map((x) => x.p50),
    p99: s.map((x) => x.p99),
    err: s.map((x) => +(x.errorRate * 100).toFixed(2)),
    shade: s.map((x) => (windows.some((w) => x.t >= Math.floor(w.from) && x.t < Math.ceil(w.to)) ? 1 : 0)),
    windows,
    breakers: breakerKeys.map((k) => ({
      key: k,
      points: report.observations.map((o) => ({ x: +(o.at / 1000).toFixed(2), y: o.breakers[k] ?? 0 })),
    })),
    effects: effectSeries(report.results),
    trend: trend && trend.runs.length > 1 ? trend : undefined,
  };
  const rows = report.results
    .map(
      (r) =>
        `<tr class="${r.verdict}"><td>${r.verdict.toUpperCase()}</td><td>${esc(r.kind)}/${esc(r.name)}<br><small>${esc(r.file)}</small></td><td><ul>${
          r.checks
            .map(
              (c) =>
                `<li class="${c.ok ? 'ok' : 'bad'}">${esc(c.name)}: <b>${esc(c.measured)}</b> (expected ${esc(c.expected)})</li>`,
            )
            .join('') || `<li>${esc(r.reason ?? '')}</li>`
        }</ul></td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nova Chaos report ${esc(report.runId)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}
tr.pass td:first-child{color:#137333;font-weight:bold}tr.inconclusive td:first-child{color:#b06000;font-weight:bold}tr.fail td:first-child,tr.error td:first-child{color:#b3261e;font-weight:bold}li.bad{color:#b3261e}.chart{height:280px;margin:24px 0}</style>
<script>${chartJs()}</script></head><body>
<h1>Nova Chaos — run ${esc(report.runId)}</h1>
<p>Environment <b>${esc(report.environment)}</b>, seed <b>${report.seed}</b> (replay with <code>--seed ${report.seed}</code>), ${esc(report.startedAt)} → ${esc(report.finishedAt)}.</p>
<table><tr><th>Verdict</th><th>Experiment</th><th>Evidence</th></tr>${rows}</table>
<h2>Latency and errors (fault windows shaded)</h2><div class="chart"><canvas id="latency"></canvas></div>
<h2>Circuit breakers (0 closed, 1 open, 2 half-open)</h2><div class="chart"><canvas id="breakers"></canvas></div>
<h2>What the faults did (requests or calls affected per second, measured at each target)</h2><div class="chart"><canvas id="effects"></canvas></div>
${data.trend ? `<h2>p99 during the fault over the last ${data.trend.runs.length} runs (this one last; <code>chaos report diff</code> compares two)</h2><div class="chart"><canvas id="trend"></canvas></div>` : ''}
<script>
const D = ${JSON.stringify(data)};
new Chart(document.getElementById('latency'), { data: { labels: D.labels, datasets: [
  { type: 'bar', label: 'fault window', data: D.shade.map((v) => v ? 1 : null), yAxisID: 'shade', backgroundColor: 'rgba(255,152,0,0.18)', barPercentage: 1, categoryPercentage: 1 },
  { type: 'line', label: 'p50 (ms)', data: D.p50, borderColor: '#1a73e8', pointRadius: 0, yAxisID: 'ms' },
  { type: 'line', label: 'p99 (ms)', data: D.p99, borderColor: '#9334e6', pointRadius: 0, yAxisID: 'ms' },
  { type: 'line', label: 'error rate (%)', data: D.err, borderColor: '#d93025', pointRadius: 0, yAxisID: 'pct' } ] },
  options: { maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: 'seconds since start' } }, ms: { position: 'left', title: { display: true, text: 'ms' } },
    pct: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: '% errors' } }, shade: { display: false, min: 0, max: 1 } } } });
new Chart(document.getElementById('effects'), { type: 'bar', data: { datasets: D.effects.map((e, i) => ({ label: e.label, data: e.points, backgroundColor: ['#d93025','#1a73e8','#188038','#f29900','#9334e6'][i % 5] })) },
  options: { maintainAspectRatio: false, animation: false, scales: { x: { type: 'linear', title: { display: true, text: 'seconds since start' } }, y: { min: 0, title: { display: true, text: 'affected / s' } } } } });
new Chart(document.getElementById('breakers'), { type: 'line', data: { datasets: D.breakers.map((b, i) => ({ label: b.key, data: b.points, stepped: true, pointRadius: 0, borderColor: ['#d93025','#1a73e8','#188038','#f29900'][i % 4] })) },
  options: { maintainAspectRatio: false, animation: false, scales: { x: { type: 'linear', title: { display: true, text: 'seconds since start' } }, y: { min: 0, max: 2, ticks: { stepSize: 1 } } } } });
if (D.trend) new Chart(document.getElementById('trend'), { type: 'line', data: { labels: D.trend.runs, datasets: D.trend.p99.map((e, i) => ({ label: e.experiment, data: e.points, spanGaps: true, borderColor: ['#d93025','#1a73e8','#188038','#f29900','#9334e6','#00897b','#5f6368'][i % 7] })) },
  options: { maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: 'run' } }, y: { min: 0, title: { display: true, text: 'p99 during the fault (ms)' } } } } });
</script></body></html>
`;
}

/**
 * The per-second effect of every request-level fault of the run, placed on the run's clock (the fault's
 * second i starts at its experiment's fault start + i s).
 */
export function effectSeries(
  results: readonly ExperimentResult[],
): Array<{ label: string; points: Array<{ x: number; y: number }> }> {
  const out: Array<{ label: string; points: Array<{ x: number; y: number }> }> = [];
  for (const r of results) {
    if (!r.phases) continue;
    for (const e of r.effects ?? []) {
      const perSecond = e.effect?.perSecond;
      if (!perSecond?.length) continue;
      const from = r.phases.faultStart / 1000;
      out.push({
        label: `${r.name}: ${e.kind} on ${e.target}`,
        points: perSecond.map((y, i) => ({ x: +(from + i + 0.5).toFixed(2), y })),
      });
    }
  }
  return out;
}

/** The controller's metrics for the run, in Prometheus text format. */
export async function controllerMetrics(report: RunReport): Promise<string> {
  const registry = new Registry();
  const total = new Counter({
    name: 'chaos_experiments_total',
    help: 'Experiments run, by kind and verdict.',
    labelNames: ['kind', 'verdict'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'chaos_experiments_failed_total',
    help: 'Experiments whose hypotheses failed, whose fault showed no effect (inconclusive), or that errored.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'chaos_experiment_duration_seconds',
    help: 'Wall time of an experiment, baseline to verified recovery.',
    labelNames: ['kind'] as const,
    buckets: [5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  new Gauge({ name: 'chaos_experiments_running', help: 'Experiments running now.', registers: [registry] }).set(0);
  for (const r of report.results) {
    total.inc({ kind: r.kind, verdict: r.verdict });
    if (r.verdict === 'fail' || r.verdict === 'inconclusive' || r.verdict === 'error') failed.inc({ kind: r.kind });
    if (r.verdict !== 'skipped') duration.observe({ kind: r.kind }, r.durationSeconds);
  }
  return registry.metrics();
}

/**
 * Writes report.json, junit.xml, report.html (with the trend over earlier runs when given) and metrics.prom
 * under `dir`; returns their paths.
 */
export async function writeReports(dir: string, report: RunReport, trend?: Trend): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const files = {
    json: join(dir, 'report.json'),
    junit: join(dir, 'junit.xml'),
    html: join(dir, 'report.html'),
    metrics: join(dir, 'metrics.prom'),
  };
  writeFileSync(files.json, JSON.stringify(report, null, 2));
  writeFileSync(files.junit, junit(report));
  writeFileSync(files.html, html(report, trend));
  writeFileSync(files.metrics, await controllerMetrics(report));
  return files;
}
