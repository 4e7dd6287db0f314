import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadResources, nextRuns, type ScheduleResource } from '@nova/chaos-spec';
import { window, type LoadSource } from '../load.ts';

/** The suite's experiments (startable) and Schedules (with their next runs), for the dashboard. */
export function suiteView(suite: string[], now = new Date()): unknown {
  const resources = loadResources(suite);
  return {
    experiments: resources
      .filter((r) => r.kind !== 'Schedule')
      .map((r) => ({
        name: r.metadata.name,
        kind: r.kind,
        file: `${r.source.file}:${r.source.line}`,
        startable: true,
      })),
    schedules: resources
      .filter((r): r is ScheduleResource => r.kind === 'Schedule')
      .map((s) => ({
        name: s.metadata.name,
        type: s.spec.type,
        schedule: s.spec.schedule,
        concurrencyPolicy: s.spec.concurrencyPolicy ?? 'Forbid',
        next: nextRuns(s.spec.schedule, now, 3).map((d) => d.toISOString()),
      })),
  };
}

/** The last 20 runs `chaos run` reported under `reportsDir`, newest first, with their verdicts. */
export function reportedRuns(reportsDir: string | undefined): unknown[] {
  const runs: unknown[] = [];
  if (!reportsDir || !existsSync(reportsDir)) return runs;
  for (const run of readdirSync(reportsDir).sort().reverse().slice(0, 20)) {
    try {
      const r = JSON.parse(readFileSync(join(reportsDir, run, 'report.json'), 'utf8')) as {
        runId: string;
        startedAt: string;
        results: Array<{ name: string; kind: string; verdict: string }>;
      };
      runs.push({
        runId: r.runId,
        startedAt: r.startedAt,
        report: `/reports/${run}/report.html`,
        results: r.results.map((x) => ({ name: x.name, kind: x.kind, verdict: x.verdict })),
      });
    } catch {
      // a run still writing, or not a report
    }
  }
  return runs;
}

/** p99 (ms), error rate and count of the live load, per second over the last 60 s. */
export function liveView(load: LoadSource | undefined): { series: unknown[] } {
  if (!load) return { series: [] };
  const now = load.now();
  const series = [];
  for (let t = Math.max(0, Math.floor(now / 1000) - 60); t < Math.floor(now / 1000); t++) {
    const w = window(load.samples, t * 1000, t * 1000 + 1000);
    series.push({ t, p99: Math.round(w.p99), errorRate: w.errorRate, count: w.count });
  }
  return { series };
}
