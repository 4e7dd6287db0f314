import { describe, expect, it } from 'vitest';
import { judge } from './goal.ts';
import { median, pairedRatios, quantile, seededRandom, summarize } from './stats.ts';

describe('order statistics', () => {
  it('interpolates quantiles between order statistics (R type 7)', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([10, 20], 0.75)).toBe(17.5);
    expect(median([7])).toBe(7);
    expect(() => quantile([], 0.5)).toThrow(/empty/);
    expect(() => quantile([1], 1.5)).toThrow(/within \[0, 1\]/);
  });

  it('pairs ratios round by round and refuses samples of different lengths', () => {
    expect(pairedRatios([2, 9], [4, 3])).toEqual([0.5, 3]);
    expect(() => pairedRatios([1], [1, 2])).toThrow(/differ in length/);
  });
});

describe('summarize', () => {
  it('gives a bootstrap interval that contains the median and replays from its seed', () => {
    const random = seededRandom(7);
    const xs = Array.from({ length: 15 }, () => 100 + random() * 20);
    const a = summarize(xs);
    expect(a.ci[0]).toBeLessThanOrEqual(a.median);
    expect(a.ci[1]).toBeGreaterThanOrEqual(a.median);
    expect(a.ci[0]).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(a.ci[1]).toBeLessThanOrEqual(Math.max(...xs));
    expect(summarize(xs)).toEqual(a);
    expect(a.iqr[0]).toBeLessThan(a.iqr[1]);
  });

  it('narrows as the rounds agree and widens as they scatter', () => {
    const random = seededRandom(3);
    const tight = Array.from({ length: 15 }, () => 100 + random());
    const loose = Array.from({ length: 15 }, () => 100 + random() * 50);
    const width = (xs: number[]): number => summarize(xs).ci[1] - summarize(xs).ci[0];
    expect(width(tight)).toBeLessThan(width(loose) / 10);
    expect(summarize([5, 5, 5, 5]).ci).toEqual([5, 5]);
  });

  it('uses the range as the interval when there are too few rounds to resample', () => {
    expect(summarize([3, 9]).ci).toEqual([3, 9]);
  });
});

describe('judge', () => {
  const s = (lo: number, hi: number) => ({
    median: (lo + hi) / 2,
    iqr: [lo, hi] as const,
    ci: [lo, hi] as const,
    confidence: 0.95,
    nextRun: undefined,
    nextRunConfidence: 0.99,
    n: 9,
  });
  it('meets a goal only when the whole interval is on the right side', () => {
    expect(judge({ figure: 'x', op: '<=', target: 900 }, s(800, 890))).toBe('met');
    expect(judge({ figure: 'x', op: '<=', target: 900 }, s(880, 920))).toBe('inconclusive');
    expect(judge({ figure: 'x', op: '<=', target: 900 }, s(901, 990))).toBe('missed');
    expect(judge({ figure: 'r', op: '>=', target: 0.97 }, s(0.97, 0.99))).toBe('met');
    expect(judge({ figure: 'r', op: '>=', target: 0.97 }, s(0.96, 0.98))).toBe('inconclusive');
    expect(judge({ figure: 'r', op: '>=', target: 0.97 }, s(0.9, 0.969))).toBe('missed');
  });
});
