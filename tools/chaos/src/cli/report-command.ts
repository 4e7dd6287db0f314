import {
  diffRuns,
  diffTable,
  DEFAULT_THRESHOLDS,
  listRuns,
  readRun,
  resolveRun,
  type Thresholds,
} from '../report/history.ts';

/** Options of `chaos report` and of `chaos run --compare`. */
export interface ReportOptions {
  /** Where runs are recorded (one directory per run). */
  reports: string;
  /** `diff --against <ref>`: the run to compare with (`last`, `last-passing` or a run id). */
  against?: string;
  /** p99 rise that counts as a regression, in percent. */
  threshold?: string;
  /** Show unchanged figures too. */
  all?: boolean;
}

/** A bad argument: the CLI prints it and exits 2. */
export class ReportUsageError extends Error {}

function thresholds(opts: ReportOptions): Thresholds {
  if (opts.threshold === undefined) return DEFAULT_THRESHOLDS;
  const pct = Number(opts.threshold);
  if (!(pct > 0 && pct <= 1000))
    throw new ReportUsageError(`--threshold ${opts.threshold}: expected a p99 rise in percent, from 1 to 1000`);
  return { ...DEFAULT_THRESHOLDS, p99Share: pct / 100 };
}

/** Compares run `after` with `before` (resolved in the history); prints the table; true when a figure regressed. */
export function printDiff(
  opts: ReportOptions,
  beforeRef: string,
  afterRef: string,
  print: (line: string) => void,
): boolean {
  const t = thresholds(opts);
  const after = resolveRun(opts.reports, afterRef);
  const before = resolveRun(opts.reports, beforeRef, after.runId);
  const a = readRun(before.dir)!;
  const b = readRun(after.dir)!;
  const changes = diffRuns(a, b, t);
  for (const line of diffTable(a, b, changes, { all: opts.all === true }).split('\n')) print(line);
  return changes.some((c) => c.regression);
}

/**
 * `chaos report` lists the recorded runs; `chaos report diff <runA> <runB>` (or `--against last-passing
 * [runB]`) compares every experiment's figures and flags regressions. Exit code: 0, 1 when a regression is
 * flagged, 2 for bad arguments or unknown runs.
 */
export function reportCommand(
  args: string[],
  opts: ReportOptions,
  print: (line: string) => void = console.log,
): number {
  const [sub = 'list', ...rest] = args;
  try {
    if (sub === 'list') {
      const runs = listRuns(opts.reports);
      if (runs.length === 0) {
        print(`no run is recorded in ${opts.reports} (chaos run writes one directory per run there)`);
        return 0;
      }
      const rows = runs.map((r) => [
        r.runId,
        r.startedAt.replace('T', ' ').replace(/\..*/, ''),
        r.environment,
        String(r.counts.pass),
        String(r.counts.fail + r.counts.error),
        String(r.counts.inconclusive),
        String(r.counts.skipped),
      ]);
      const head = ['RUN', 'STARTED (UTC)', 'ENV', 'PASSED', 'FAILED', 'INCONCLUSIVE', 'SKIPPED'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows])
        print(
          r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        );
      return 0;
    }
    if (sub === 'diff') {
      const [first, second] = rest;
      if (rest.length > 2) throw new ReportUsageError('report diff takes at most two runs');
      if (opts.against !== undefined && rest.length > 1)
        throw new ReportUsageError('report diff --against <run> takes at most one other run');
      const beforeRef = opts.against ?? first;
      const afterRef = opts.against !== undefined ? (first ?? 'last') : second;
      if (beforeRef === undefined || afterRef === undefined) {
        throw new ReportUsageError(
          'report diff needs two runs (chaos report diff <runA> <runB>), or --against <run> [runB]',
        );
      }
      return printDiff(opts, beforeRef, afterRef, print) ? 1 : 0;
    }
    throw new ReportUsageError(`unknown report command "${sub}": use chaos report (list) or chaos report diff`);
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
}
