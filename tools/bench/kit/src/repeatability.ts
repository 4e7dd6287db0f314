/**
 * Whether a benchmark repeats: given the results of several back-to-back runs, how far each figure's median
 * moved between runs, and whether each run's printed spread covered the other runs' medians. This is issue
 * 21's bar, computed the same way every time instead of by hand: ratios within ±10 % of the median of the
 * runs' medians, and every run's next-run interval holding every other run's median.
 */
import { median } from './order-statistics.ts';
import { alignedTable, formatValue, markdownTable, type BenchResult } from './report.ts';

/** How far a ratio's run medians may stray from their median (issue 21: ±10 %). */
export const RATIO_TOLERANCE = 0.1;

/** One figure across the runs. */
export interface RepeatedFigure {
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  /** Each run's median, in run order. */
  readonly medians: readonly number[];
  /** The median of {@link medians}: what the gaps are measured from. */
  readonly center: number;
  /** The largest shortfall and excess of a run's median from {@link center}, as fractions (≤ 0, ≥ 0). */
  readonly gap: readonly [number, number];
  /** Runs whose bootstrap interval of the median held every other run's median, and run-pairs held. */
  readonly ciHeld: Held;
  /** The same for the rounds' interquartile range. */
  readonly iqrHeld: Held;
  /** The same for the next-run (prediction) interval; null when a run printed none. */
  readonly nextRunHeld: Held | null;
  /** For ratios: every run's median within ±{@link RATIO_TOLERANCE} of {@link center}; null for others. */
  readonly withinTolerance: boolean | null;
}

/** How often runs' intervals held the other runs' medians. */
export interface Held {
  /** Runs whose interval held all other runs' medians. */
  readonly runs: number;
  /** Ordered run pairs (a, b), a ≠ b, where a's interval held b's median. */
  readonly pairs: number;
  /** All ordered pairs: runs × (runs − 1). */
  readonly ofPairs: number;
}

/** What {@link compareRuns} concludes. */
export interface Repeatability {
  readonly bench: string;
  readonly runs: number;
  readonly commits: readonly string[];
  readonly figures: readonly RepeatedFigure[];
  /** Every ratio within tolerance, and every run's next-run interval held every other run's median. */
  readonly repeats: boolean;
  /** The confidence levels of the runs' next-run intervals (one, unless runs of different versions are compared). */
  readonly nextRunConfidences: readonly number[];
}

function held(intervals: readonly (readonly [number, number])[], medians: readonly number[]): Held {
  let runs = 0;
  let pairs = 0;
  intervals.forEach(([lo, hi], a) => {
    let all = true;
    medians.forEach((m, b) => {
      if (a === b) return;
      if (m >= lo && m <= hi) pairs++;
      else all = false;
    });
    if (all) runs++;
  });
  return { runs, pairs, ofPairs: medians.length * (medians.length - 1) };
}

/**
 * Compares the results of back-to-back runs of one benchmark, figure by figure (the figures of the first run,
 * in its order). Throws when the runs are of different benchmarks, fewer than two, or a run lacks a figure.
 */
export function compareRuns(results: readonly BenchResult[]): Repeatability {
  if (results.length < 2) throw new RangeError(`need at least 2 runs to compare, got ${results.length}`);
  const bench = results[0]!.bench;
  const other = results.find((r) => r.bench !== bench);
  if (other) throw new Error(`runs of different benchmarks: ${bench} and ${other.bench}`);
  const figures = Object.entries(results[0]!.figures).map(([name, first]): RepeatedFigure => {
    const perRun = results.map((r, i) => {
      const f = r.figures[name];
      if (!f) throw new Error(`run ${i + 1} has no figure ${name}`);
      return f;
    });
    const medians = perRun.map((f) => f.median);
    const center = median(medians);
    const rel = medians.map((m) => (center === 0 ? 0 : (m - center) / Math.abs(center)));
    const gap = [Math.min(0, ...rel), Math.max(0, ...rel)] as const;
    const nextRuns = perRun.map((f) => f.nextRun);
    const ratio = first.unit === 'ratio';
    return {
      name,
      label: perRun.find((f) => f.label)?.label ?? name,
      unit: first.unit,
      medians,
      center,
      gap,
      ciHeld: held(
        perRun.map((f) => f.ci),
        medians,
      ),
      iqrHeld: held(
        perRun.map((f) => f.iqr),
        medians,
      ),
      nextRunHeld: nextRuns.every((x) => x !== null)
        ? held(nextRuns as readonly (readonly [number, number])[], medians)
        : null,
      // The epsilon: a median exactly 10 % off reads 0.10000000000000009 in floating point.
      withinTolerance: ratio ? gap[0] >= -RATIO_TOLERANCE - 1e-12 && gap[1] <= RATIO_TOLERANCE + 1e-12 : null,
    };
  });
  const repeats = figures.every(
    (f) => f.withinTolerance !== false && (f.unit !== 'ratio' || f.nextRunHeld?.runs === results.length),
  );
  // Results printed before the next-run interval went to 99 % carry no confidence: theirs was 95 %.
  const nextRunConfidences = [
    ...new Set(results.flatMap((r) => Object.values(r.figures).map((f) => f.nextRunConfidence ?? 0.95))),
  ].sort();
  const commits = [...new Set(results.map((r) => r.commit))];
  return { bench, runs: results.length, commits, figures, repeats, nextRunConfidences };
}

/** Formats a gap for people: "±4.1 %" when both sides round alike, else "−3.0 %, +5.2 %". */
export function formatGap([low, high]: readonly [number, number]): string {
  const lo = (-low * 100).toFixed(1);
  const hi = (high * 100).toFixed(1);
  return lo === hi ? `±${hi} %` : `−${lo} %, +${hi} %`;
}

/** Finds the JSON result line a benchmark prints last in its output (nx adds lines around it). */
export function resultFromOutput(output: string): BenchResult {
  const line = output
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"bench"'));
  if (!line) throw new Error('no benchmark result (a line starting with {"bench") in the output');
  return JSON.parse(line) as BenchResult;
}

/**
 * The comparison as table rows for people: per figure each run's median, the gap, and how many runs' intervals
 * held all other medians (in brackets: run-pairs held). `markdown` gives a GitHub table, else aligned text.
 */
export function renderRepeatability(rep: Repeatability, style: 'text' | 'markdown' = 'text'): string[] {
  const heldText = (h: Held | null): string => (h ? `${h.runs} (${h.pairs}/${h.ofPairs})` : '—');
  const titles = [
    'figure',
    ...rep.figures[0]!.medians.map((_, i) => `run ${i + 1}`),
    'gap',
    'bootstrap CI held',
    'IQR held',
    'next-run held',
  ];
  const rows = rep.figures.map((f) => [
    `${f.label} (${f.unit})`,
    ...f.medians.map((m) => formatValue(m, f.unit)),
    formatGap(f.gap) + (f.withinTolerance === false ? ' ✗' : ''),
    heldText(f.ciHeld),
    heldText(f.iqrHeld),
    heldText(f.nextRunHeld),
  ]);
  const ratios = rep.figures.filter((f) => f.unit === 'ratio');
  const inside = ratios.filter((f) => f.withinTolerance).length;
  const covered = ratios.filter((f) => f.nextRunHeld?.runs === rep.runs).length;
  const summary = [
    `${rep.bench}: ${rep.runs} runs (commit ${rep.commits.join(', ')})`,
    `ratios within ±${RATIO_TOLERANCE * 100} % of their median: ${inside} of ${ratios.length}; ` +
      `every run's next-run interval (${rep.nextRunConfidences.map((c) => `${Math.round(c * 100)} %`).join(' / ')}) held the other medians: ${covered} of ${ratios.length}`,
    rep.repeats ? 'repeats: yes' : 'repeats: no',
  ];
  const table = style === 'markdown' ? [...markdownTable(titles, rows), ''] : alignedTable(titles, rows);
  return [...table, ...summary];
}
