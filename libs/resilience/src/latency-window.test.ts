import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './latency-window.ts';

describe('LatencyWindow', () => {
  it('is unknown until minSamples, then the nearest-rank percentile of what it holds', () => {
    const w = new LatencyWindow(0.9, 100, 10, 1);
    for (let i = 1; i <= 9; i++) w.add(i);
    expect(w.value).toBe(Infinity);
    w.add(10);
    expect(w.value).toBe(9); // ceil(0.9 × 10) = 9th smallest
    w.add(100);
    expect(w.value).toBe(10); // ceil(0.9 × 11) = 10th smallest
  });

  it('keeps only the last `size` samples', () => {
    const w = new LatencyWindow(1, 4, 1, 1);
    for (const ms of [50, 40, 30, 20, 10]) w.add(ms);
    expect(w.value).toBe(40); // 50 left the ring
    for (const ms of [1, 1, 1, 1]) w.add(ms);
    expect(w.value).toBe(1);
  });

  it('recomputes only every `every` samples (the value lags by design)', () => {
    const w = new LatencyWindow(1, 100, 1, 4);
    w.add(10); // the first known value is computed at once
    expect(w.value).toBe(10);
    w.add(500);
    w.add(500);
    w.add(500);
    expect(w.value).toBe(10);
    w.add(500); // the 4th since the last computation
    expect(w.value).toBe(500);
  });

  it('sorts numerically, not as text', () => {
    const w = new LatencyWindow(0.5, 10, 1, 1);
    for (const ms of [100, 9, 20]) w.add(ms);
    expect(w.value).toBe(20);
  });

  it('refuses a percentile outside (0, 1]', () => {
    expect(() => new LatencyWindow(0)).toThrow('percentile must be in (0, 1], got 0');
    expect(() => new LatencyWindow(1.01)).toThrow(/percentile/);
    expect(() => new LatencyWindow(1)).not.toThrow();
  });
});
