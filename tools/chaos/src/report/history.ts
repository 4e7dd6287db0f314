import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentResult } from '../run/runner.ts';

/** What a diff needs of a run's `report.json` (samples and observations are not read). */
export interface RecordedRun {
  runId: string;
  startedAt: string;
  environment: string;
  results: ExperimentResult[];
}

/** One run of the history, as `chaos report` lists it. */
export interface RunSummary {
  runId: string;
  /** The run's report directory. */
  dir: string;
  startedAt: string;
  environment: string;
  counts: Record<ExperimentResult['verdict'], number>;
  /** Every experiment passed or was skipped (none failed, errored or was inconclusive). */
  passing: boolean;
}

/** A history reference that is not a run id: the newest run, or the newest run that passed. */
export const RUN_KEYWORDS = ['last', 'last-passing'] as const;

/**
 * Every run recorded under `root` (one `<run-id>/report.json` per run), oldest first. Directories without a
 * readable report (a run killed before it wrote one) are left out.
 */
export function listRuns(root: string): RunSummary[] {
  if (!existsSync(root)) return [];
  const runs: RunSummary[] = [];
  for (const name of readdirSync(root)) {
    const run = readRun(join(root, name));
    if (!run) continue;
    const counts = { pass: 0, fail: 0, inconclusive: 0, error: 0, skipped: 0 };
    for (const r of run.results) counts[r.verdict]++;
    runs.push({
      runId: run.runId,
      dir: join(root, name),
      startedAt: run.startedAt,
      environment: run.environment,
      counts,
      passing: counts.fail + counts.error + counts.inconclusive === 0 && counts.pass > 0,
    });
  }
  return runs.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** A run's report, or undefined when the directory holds none (or a malformed one). */
export function readRun(dir: string): RecordedRun | undefined {
  try {
    const run = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Partial<RecordedRun>;
    if (typeof run.runId !== 'string' || !Array.isArray(run.results) || typeof run.startedAt !== 'string')
      return undefined;
    return {
      runId: run.runId,
      startedAt: run.startedAt,
      environment: run.environment ?? 'local',
      results: run.results,
    };
  } catch {
    return undefined;
  }
}

/**
 * Resolves a reference to a run of the history: a run id, `last` (the newest) or `last-passing` (the newest
 * that passed), not counting `exclude` (the run being compared). Throws naming what exists when none matches.
 */
export function resolveRun(root: string, ref: string, exclude?: string): RunSummary {
  const runs = listRuns(root).filter((r) => r.runId !== exclude);
  const found =
    ref === 'last'
      ? runs.at(-1)
      : ref === 'last-passing'
        ? runs.filter((r) => r.passing).at(-1)
        : runs.find((r) => r.runId === ref);
  if (!found) {
    const known = runs.length
      ? `recorded runs: ${runs.map((r) => r.runId).join(', ')}`
      : `no run is recorded in ${root}`;
    throw new Error(`no run "${ref}" (${RUN_KEYWORDS.join(', ')} or a run id); ${known}`);
  }
  return found;
}

/** When a change of a figure is a regression. */
export interface Thresholds {
  /** p99 during the fault rose by more than this share (0.25 = 25 %)… */
  p99Share: number;
  /** …and by more than this many ms (small p99s move by a few ms from noise alone). */
  p99Ms: number;
  /** Error rate during the fault rose by more than this many percentage points. */
  errorRatePoints: number;
  /** Recovery took this many seconds longer. */
  recoverySeconds: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { p99Share: 0.25, p99Ms: 20, errorRatePoints: 1, recoverySeconds: 2 };

/** One compared figure of one experiment. */
export interface FigureChange {
  experiment: string;
  figure: string;
  before: string;
  after: string;
  /** The change, e.g. `+120 ms (+85 %)`; empty when nothing comparable changed. */
  change: string;
  regression: boolean;
}

const fmt = (x: number, digits = 0): string => x.toFixed(digits);

/** The time to steady state after recovery, in s, from its check (`measured: "1.5 s"`). */
function recoverySeconds(r: ExperimentResult): number | undefined {
  const c = r.checks.find((x) => x.name === 'recovery after the fault');
  const m = c && /^(\d+(?:\.\d+)?) s/.exec(c.measured);
  return m ? Number(m[1]) : undefined;
}

/** Whether each fault took effect, by `kind on target`. */
function effectsTook(r: ExperimentResult): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const e of r.effects ?? []) out.set(`${e.kind} on ${e.target}`, e.effect?.took === true);
  return out;
}

/** Compares one experiment's figures between two runs. */
function compareExperiment(name: string, a: ExperimentResult, b: ExperimentResult, t: Thresholds): FigureChange[] {
  const out: FigureChange[] = [];
  const worse = (v: ExperimentResult['verdict']): boolean => v === 'fail' || v === 'error' || v === 'inconclusive';
  out.push({
    experiment: name,
    figure: 'verdict',
    before: a.verdict.toUpperCase(),
    after: b.verdict.toUpperCase(),
    change: a.verdict === b.verdict ? '' : `${a.verdict} → ${b.verdict}`,
    regression: a.verdict === 'pass' && worse(b.verdict),
  });
  const fa = a.figures?.fault;
  const fb = b.figures?.fault;
  if (fa && fb && fa.count > 0 && fb.count > 0) {
    const d = fb.p99 - fa.p99;
    out.push({
      experiment: name,
      figure: 'p99 during the fault',
      before: `${fmt(fa.p99)} ms`,
      after: `${fmt(fb.p99)} ms`,
      change: `${d >= 0 ? '+' : ''}${fmt(d)} ms (${d >= 0 ? '+' : ''}${fmt((d / Math.max(fa.p99, 1e-9)) * 100)} %)`,
      regression: d > t.p99Ms && fb.p99 > fa.p99 * (1 + t.p99Share),
    });
    const points = (fb.errorRate - fa.errorRate) * 100;
    out.push({
      experiment: name,
      figure: 'error rate during the fault',
      before: `${fmt(fa.errorRate * 100, 1)} %`,
      after: `${fmt(fb.errorRate * 100, 1)} %`,
      change: points === 0 ? '' : `${points > 0 ? '+' : ''}${fmt(points, 1)} points`,
      regression: points > t.errorRatePoints,
    });
  }
  const ra = recoverySeconds(a);
  const rb = recoverySeconds(b);
  if (ra !== undefined && rb !== undefined) {
    out.push({
      experiment: name,
      figure: 'recovery',
      before: `${fmt(ra, 1)} s`,
      after: `${fmt(rb, 1)} s`,
      change: rb === ra ? '' : `${rb > ra ? '+' : ''}${fmt(rb - ra, 1)} s`,
      regression: rb - ra > t.recoverySeconds,
    });
  }
  const ea = effectsTook(a);
  for (const [fault, took] of effectsTook(b)) {
    const before = ea.get(fault);
    if (before === undefined) continue;
    out.push({
      experiment: name,
      figure: `effect of ${fault}`,
      before: before ? 'took' : 'none',
      after: took ? 'took' : 'none',
      change: before === took ? '' : took ? 'now took effect' : 'no longer took effect',
      regression: before && !took,
    });
  }
  return out;
}

/**
 * Every comparable figure of every experiment present in both runs (by kind and name): verdict, p99 and
 * error rate during the fault, recovery time, and whether each fault took effect; each flagged when it got
 * worse beyond `thresholds`. Experiments in one run only are listed, never flagged.
 */
export function diffRuns(a: RecordedRun, b: RecordedRun, thresholds: Thresholds = DEFAULT_THRESHOLDS): FigureChange[] {
  const key = (r: ExperimentResult): string => `${r.kind}/${r.name}`;
  const before = new Map(a.results.map((r) => [key(r), r]));
  const after = new Map(b.results.map((r) => [key(r), r]));
  const out: FigureChange[] = [];
  for (const [name, rb] of after) {
    const ra = before.get(name);
    if (!ra) {
      out.push({
        experiment: name,
        figure: 'verdict',
        before: '—',
        after: rb.verdict.toUpperCase(),
        change: `only in ${b.runId}`,
        regression: false,
      });
      continue;
    }
    out.push(...compareExperiment(name, ra, rb, thresholds));
  }
  for (const [name, ra] of before) {
    if (!after.has(name)) {
      out.push({
        experiment: name,
        figure: 'verdict',
        before: ra.verdict.toUpperCase(),
        after: '—',
        change: `only in ${a.runId}`,
        regression: false,
      });
    }
  }
  return out;
}

/** The diff for a terminal: one line per figure that changed (all with `all`), regressions marked. */
export function diffTable(
  a: RecordedRun,
  b: RecordedRun,
  changes: readonly FigureChange[],
  options: { all?: boolean } = {},
): string {
  const shown = changes.filter((c) => options.all || c.change !== '' || c.regression);
  const rows = shown.map((c) => [
    c.regression ? 'REGRESSION' : '',
    c.experiment,
    c.figure,
    c.before,
    c.after,
    c.change,
  ]);
  const head = ['', 'EXPERIMENT', 'FIGURE', a.runId, b.runId, 'CHANGE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const regressions = changes.filter((c) => c.regression).length;
  const summary = `${regressions} regression${regressions === 1 ? '' : 's'} between ${a.runId} and ${b.runId} (${changes.length} figures compared)`;
  return [...(rows.length ? [line(head), ...rows.map(line)] : ['no figure changed']), summary].join('\n');
}

/** The p99 during the fault of each experiment over the last runs, for the report's trend chart. */
export interface Trend {
  /** Run ids, oldest first; the last is the run being reported. */
  runs: string[];
  /** Per experiment (`Kind/name`): p99 during the fault in each run, in ms (null where it did not run). */
  p99: Array<{ experiment: string; points: Array<number | null> }>;
}

/**
 * The trend of `current` over the `limit` most recent runs before it (`history`, any order): for each of
 * its experiments, the p99 during the fault in each run.
 */
export function trendOf(history: readonly RecordedRun[], current: RecordedRun, limit = 10): Trend {
  const before = history
    .filter((r) => r.runId !== current.runId)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .slice(-(limit - 1));
  return trendOver(
    [...before, current],
    current.results.filter((r) => r.figures?.fault.count),
  );
}

/**
 * The trend over the `limit` most recent runs of `history` (any order), for every experiment that had load
 * during its fault in any of them: what the dashboard's history shows.
 */
export function historyTrend(history: readonly RecordedRun[], limit = 10): Trend {
  const runs = [...history].sort((a, b) => a.startedAt.localeCompare(b.startedAt)).slice(-limit);
  const seen = new Map<string, ExperimentResult>();
  for (const run of runs)
    for (const r of run.results) if (!seen.has(`${r.kind}/${r.name}`)) seen.set(`${r.kind}/${r.name}`, r);
  return trendOver(runs, [...seen.values()]);
}

/** For each of `experiments` that had load during its fault, its p99 then in each of `runs` (oldest first). */
function trendOver(runs: readonly RecordedRun[], experiments: readonly ExperimentResult[]): Trend {
  const p99 = experiments
    .filter((r) =>
      runs.some((run) => run.results.some((x) => x.kind === r.kind && x.name === r.name && x.figures?.fault.count)),
    )
    .map((r) => ({
      experiment: `${r.kind}/${r.name}`,
      points: runs.map((run) => {
        const same = run.results.find((x) => x.kind === r.kind && x.name === r.name);
        return same?.figures?.fault.count ? Math.round(same.figures.fault.p99) : null;
      }),
    }));
  return { runs: runs.map((r) => r.runId), p99 };
}
