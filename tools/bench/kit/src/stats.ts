/**
 * Order statistics and a percentile bootstrap, enough to say "median X, 95 % interval [lo, hi]" about a
 * handful of benchmark rounds without assuming the rounds are normally distributed (they are not: a GC or a
 * neighbour's burst makes a long right tail).
 */
import { NEXT_RUN_CONFIDENCE, predictNextRun } from './next-run.ts';
import { median, quantile } from './order-statistics.ts';

export { median, quantile };

/**
 * A deterministic PRNG (mulberry32), so a run's intervals replay exactly from its seed. The same few lines as
 * `libs/chaos-spec`'s `seededRandom`, on purpose: the kit imports nothing of the workspace.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A statistic with its spread. */
export interface Summary {
  /** Median of the samples. */
  readonly median: number;
  /** First and third quartiles. */
  readonly iqr: readonly [number, number];
  /** Percentile-bootstrap confidence interval of the median. */
  readonly ci: readonly [number, number];
  /** Confidence level of {@link ci}, e.g. 0.95. */
  readonly confidence: number;
  /**
   * Where the median of another run like this one should fall (a prediction interval from batch medians,
   * see {@link predictNextRun}); undefined with fewer than {@link MIN_ROUNDS_TO_PREDICT} rounds.
   */
  readonly nextRun: readonly [number, number] | undefined;
  /** Confidence level of {@link nextRun}: {@link NEXT_RUN_CONFIDENCE} unless asked otherwise. */
  readonly nextRunConfidence: number;
  /** Number of samples (rounds). */
  readonly n: number;
}

/** Options of {@link summarize}. */
export interface SummaryOptions {
  /** Confidence level of the bootstrap interval. Default 0.95. */
  confidence?: number;
  /** Confidence level of the next-run interval: 0.9, 0.95 or 0.99. Default {@link NEXT_RUN_CONFIDENCE}. */
  nextRunConfidence?: number;
  /** Bootstrap resamples. Default 2 000. */
  resamples?: number;
  /** Seed of the resampling. Default 1. */
  seed?: number;
  /** Batches of {@link predictNextRun} (e.g. the number of fresh processes the rounds ran in). Default its own. */
  batches?: number;
}

/**
 * Median, quartiles and a percentile-bootstrap confidence interval of the median. With fewer than 3 samples
 * the interval is the sample's range (a bootstrap of 1–2 values says nothing).
 */
export function summarize(samples: readonly number[], options: SummaryOptions = {}): Summary {
  const confidence = options.confidence ?? 0.95;
  const resamples = options.resamples ?? 2_000;
  const n = samples.length;
  const m = median(samples);
  const iqr = [quantile(samples, 0.25), quantile(samples, 0.75)] as const;
  const nextRunConfidence = options.nextRunConfidence ?? NEXT_RUN_CONFIDENCE;
  const nextRun = predictNextRun(samples, { confidence: nextRunConfidence, batches: options.batches });
  const spread = { iqr, confidence, nextRun, nextRunConfidence, n };
  if (n < 3) return { median: m, ci: [Math.min(...samples), Math.max(...samples)], ...spread };
  const random = seededRandom(options.seed ?? 1);
  const medians = new Array<number>(resamples);
  const draw = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) draw[i] = samples[Math.floor(random() * n)]!;
    medians[r] = median(draw);
  }
  const tail = (1 - confidence) / 2;
  return { median: m, ci: [quantile(medians, tail), quantile(medians, 1 - tail)], ...spread };
}

/** Per-round differences `a[i] - b[i]` of two figures measured in the same rounds (what a layer adds). */
export function pairedDifferences(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length: ${a.length} vs ${b.length}`);
  return a.map((x, i) => x - b[i]!);
}

/** Element-wise ratios `a[i] / b[i]` of two paired samples (the same rounds). */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length: ${a.length} vs ${b.length}`);
  return a.map((x, i) => x / b[i]!);
}
