import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadResources, nextRuns, type ScheduleResource } from '@nova/chaos-spec';
import { window, type LoadSource } from '../verdict/load.ts';
import { historyTrend, readRun, type RecordedRun, type Trend } from '../report/history.ts';

/**
 * Recorded runs by directory, kept while their report.json is unchanged: the dashboard asks for the history
 * every 2 s, and a report.json holds every load sample of its run (megabytes).
 */
const runCache = new Map<string, { mtimeMs: number; run: RecordedRun | undefined }>();

function cachedRun(dir: string): RecordedRun | undefined {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(join(dir, 'report.json')).mtimeMs;
  } catch {
    return undefined; // a run still writing, or not a run
  }
  const hit = runCache.get(dir);
  if (hit?.mtimeMs === mtimeMs) return hit.run;
  const run = readRun(dir);
  runCache.set(dir, { mtimeMs, run });
  return run;
}

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

/**
 * The last 20 runs `chaos run` reported under `reportsDir`, newest first, with their verdicts, and the trend of
 * each experiment's p99 during its fault over the last 10 (as each run's HTML report draws it).
 */
export function reportedRuns(reportsDir: string | undefined): { runs: unknown[]; trend: Trend } {
  if (!reportsDir || !existsSync(reportsDir)) return { runs: [], trend: { runs: [], p99: [] } };
  const recorded = readdirSync(reportsDir)
    .sort()
    .reverse()
    .slice(0, 20)
    .map((name) => ({ name, run: cachedRun(join(reportsDir, name)) }))
    .filter((r): r is { name: string; run: RecordedRun } => r.run !== undefined);
  return {
    runs: recorded.map(({ name, run }) => ({
      runId: run.runId,
      startedAt: run.startedAt,
      report: `/reports/${name}/report.html`,
      results: run.results.map((x) => ({ name: x.name, kind: x.kind, verdict: x.verdict })),
    })),
    trend: historyTrend(
      recorded.map((r) => r.run),
      10,
    ),
  };
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
