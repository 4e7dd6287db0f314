/**
 * A prediction interval for the median of the *next* run of a benchmark, from one run's rounds.
 *
 * Why not the bootstrap interval of the median: it treats the rounds as independent draws, so it says where this
 * run's median would land if the same minute of the machine were replayed. Back to back runs on a shared VM
 * differ by more than that (docs/benchmarks.md: the faults benchmark's intervals covered the other runs'
 * medians in 2 of 5), because the machine drifts over minutes and neighbouring rounds share its state. Batch
 * means is the textbook answer for autocorrelated output (Law & Kelton, "Simulation Modeling and Analysis",
 * ch. 9): consecutive rounds are grouped into a few batches, and the scatter of the batch medians carries the
 * drift the rounds share. Another run's median then differs from this run's by a difference of two such
 * means, hence the √(2/B): `median ± t(B−1) · sd(batch medians) · √(2/B)`.
 */
import { median } from './order-statistics.ts';

/**
 * Confidence of the next-run interval a benchmark prints. Not 95 %: the interval is asked to hold the medians of
 * several later runs at once (issue 21's bar: each of five runs' intervals holds the other four medians), and a
 * 95 % interval per pair misses one pair in twenty by design — the archived five-run sets of 2026-12-04/05 held
 * 17–19 of 20 pairs at 95 %. Bonferroni over four medians at 95 % asks 98.75 % of each; 99 % is the next level
 * of the t table.
 */
export const NEXT_RUN_CONFIDENCE = 0.99;

/** Fewer rounds than this give no prediction (batches of one round carry no within-batch median). */
export const MIN_ROUNDS_TO_PREDICT = 6;

/** Two-sided Student t quantiles by confidence, for 1 to 9 degrees of freedom. */
const T_TABLE: Readonly<Record<string, readonly number[]>> = {
  '0.9': [6.314, 2.92, 2.353, 2.132, 2.015, 1.943, 1.895, 1.86, 1.833],
  '0.95': [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262],
  '0.99': [63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.25],
};

/** Splits `xs` into `count` consecutive batches whose sizes differ by one at most, in order. */
export function consecutiveBatches<T>(xs: readonly T[], count: number): T[][] {
  if (!Number.isInteger(count) || count < 1 || count > xs.length)
    throw new RangeError(`batch count must be a whole number from 1 to ${xs.length}, got ${count}`);
  const batches: T[][] = [];
  let start = 0;
  for (let b = 0; b < count; b++) {
    const size = Math.floor(xs.length / count) + (b < xs.length % count ? 1 : 0);
    batches.push(xs.slice(start, start + size));
    start += size;
  }
  return batches;
}

/**
 * How many of `rounds` each replication (a fresh set of processes) runs: up to `replications` of them, in sizes
 * that differ by one at most, e.g. 15 rounds → [3, 3, 3, 3, 3], 7 → [2, 2, 1, 1, 1], 2 → [1, 1].
 */
export function replicationSizes(rounds: number, replications = 5): number[] {
  return consecutiveBatches(
    Array.from({ length: rounds }, (_, i) => i),
    Math.min(replications, rounds),
  ).map((batch) => batch.length);
}

/** Options of {@link predictNextRun}. */
export interface PredictOptions {
  /** Confidence of the interval: 0.9, 0.95 or 0.99. Default 0.95. */
  confidence?: number;
  /** Number of batches, each at least 2 rounds. Default 5 (3 with fewer than 10 rounds). */
  batches?: number;
}

/**
 * The interval where another run's median should fall, centred on this run's median (see the file's comment).
 * Undefined with fewer than {@link MIN_ROUNDS_TO_PREDICT} rounds. `samples` must be in round order: the
 * batches are consecutive rounds.
 */
export function predictNextRun(
  samples: readonly number[],
  options: PredictOptions = {},
): readonly [number, number] | undefined {
  const confidence = options.confidence ?? 0.95;
  const table = T_TABLE[String(confidence)];
  if (!table) throw new RangeError(`confidence must be one of ${Object.keys(T_TABLE).join(', ')}, got ${confidence}`);
  if (samples.length < MIN_ROUNDS_TO_PREDICT) return undefined;
  const count = options.batches ?? (samples.length >= 10 ? 5 : 3);
  if (!Number.isInteger(count) || count < 2 || count - 1 > table.length || samples.length < 2 * count)
    throw new RangeError(
      `batches must be a whole number from 2 to ${Math.min(table.length + 1, Math.floor(samples.length / 2))} for ${samples.length} rounds, got ${count}`,
    );
  const medians = consecutiveBatches(samples, count).map((b) => median(b));
  const mean = medians.reduce((a, b) => a + b, 0) / count;
  const sd = Math.sqrt(medians.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1));
  const half = table[count - 2]! * sd * Math.sqrt(2 / count);
  const centre = median(samples);
  return [centre - half, centre + half];
}
