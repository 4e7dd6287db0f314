import { describe, expect, it } from 'vitest';
import { consecutiveBatches, MIN_ROUNDS_TO_PREDICT, predictNextRun, replicationSizes } from './next-run.ts';
import { median } from './order-statistics.ts';
import { seededRandom, summarize } from './stats.ts';

/** Back to back runs of `rounds` rounds from one seeded process: noise, outliers, an optional slow drift. */
function backToBackRuns(
  seed: number,
  model: { runs: number; rounds: number; noise: number; outliers: number; drift?: number },
): number[][] {
  const random = seededRandom(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  let level = 0;
  const round = (): number => {
    // AR(1) with a correlation of 0.3 from one round to the next: what the faults benchmark's rounds show.
    if (model.drift) level = 0.3 * level + model.drift * Math.sqrt(1 - 0.09) * normal();
    const x = 1 + level + model.noise * normal();
    return random() < model.outliers ? x * (random() < 0.5 ? 0.7 : 1.4) : x;
  };
  return Array.from({ length: model.runs }, () => Array.from({ length: model.rounds }, round));
}

/** How often one run's interval holds the next run's median. */
function coverage(runs: number[][], interval: (run: number[]) => readonly [number, number]): number {
  let held = 0;
  for (let i = 0; i + 1 < runs.length; i++) {
    const [lo, hi] = interval(runs[i]!);
    const next = median(runs[i + 1]!);
    if (lo <= next && next <= hi) held++;
  }
  return held / (runs.length - 1);
}

describe('predictNextRun (model-based: many simulated runs, back to back)', () => {
  const model = { runs: 301, rounds: 15, noise: 0.01, outliers: 0.05, drift: 0.005 };
  const runs = backToBackRuns(11, model);

  it('holds the next run’s median about as often as it claims (95 %), where the bootstrap interval does not', () => {
    const predicted = coverage(runs, (run) => predictNextRun(run)!);
    const bootstrapped = coverage(runs, (run) => summarize(run, { resamples: 400 }).ci);
    expect(predicted).toBeGreaterThanOrEqual(0.88);
    expect(predicted).toBeLessThanOrEqual(0.99);
    // The interval of this run's median is too narrow for a question about the next run.
    expect(bootstrapped).toBeLessThan(0.85);
  });

  it('is not wider than it needs to be: at 90 % it holds the next median less often than at 95 %', () => {
    const at90 = coverage(runs, (run) => predictNextRun(run, { confidence: 0.9 })!);
    const at95 = coverage(runs, (run) => predictNextRun(run)!);
    expect(at90).toBeLessThan(at95);
    expect(at90).toBeGreaterThanOrEqual(0.8);
  });

  it('is centred on the run’s median and narrows as the rounds agree', () => {
    const run = runs[0]!;
    const [lo, hi] = predictNextRun(run)!;
    expect((lo + hi) / 2).toBeCloseTo(median(run), 12);
    const quiet = backToBackRuns(5, { runs: 1, rounds: 15, noise: 0.001, outliers: 0 })[0]!;
    const [qlo, qhi] = predictNextRun(quiet)!;
    expect(qhi - qlo).toBeLessThan((hi - lo) / 5);
  });

  it('says nothing with too few rounds, and refuses a confidence it has no table for', () => {
    expect(predictNextRun([1, 2, 3, 4, 5])).toBeUndefined();
    expect(predictNextRun(Array.from({ length: MIN_ROUNDS_TO_PREDICT }, (_, i) => i))).toBeDefined();
    expect(() => predictNextRun([1, 2, 3, 4, 5, 6], { confidence: 0.8 })).toThrow(/confidence must be one of/);
    expect(() => predictNextRun([1, 2, 3, 4, 5, 6], { batches: 1 })).toThrow(/batches must be/);
    expect(() => predictNextRun([1, 2, 3, 4, 5, 6], { batches: 4 })).toThrow(/from 2 to 3 for 6 rounds, got 4/);
  });
});

describe('consecutiveBatches', () => {
  it('keeps round order and sizes within one of each other', () => {
    expect(consecutiveBatches([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([
      [1, 2, 3],
      [4, 5],
      [6, 7],
    ]);
    expect(consecutiveBatches([1, 2], 2)).toEqual([[1], [2]]);
    expect(() => consecutiveBatches([1, 2], 3)).toThrow(/from 1 to 2/);
  });
});

describe('replicationSizes', () => {
  it('splits the rounds into at most five replications differing by one at most', () => {
    expect(replicationSizes(15)).toEqual([3, 3, 3, 3, 3]);
    expect(replicationSizes(7)).toEqual([2, 2, 1, 1, 1]);
    expect(replicationSizes(2)).toEqual([1, 1]);
    expect(replicationSizes(8, 2)).toEqual([4, 4]);
  });
});
