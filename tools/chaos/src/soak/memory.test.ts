import { describe, expect, it } from 'vitest';
import { rssMiB, slopeMiBPerHour } from './memory.ts';

describe('soak memory readings', () => {
  it('reads this process RSS, and nothing for a pid that is gone', () => {
    const mine = rssMiB(process.pid)!;
    expect(mine).toBeGreaterThan(process.memoryUsage().rss / 2 ** 20 / 2);
    expect(mine).toBeLessThan((process.memoryUsage().rss / 2 ** 20) * 2);
    expect(rssMiB(2 ** 22 + 1)).toBeUndefined();
  });

  it('gives the least-squares slope in MiB per hour', () => {
    // 1 MiB per minute, with noise that cancels: 60 MiB/h.
    const leak = Array.from({ length: 31 }, (_, i) => ({ atSeconds: i * 60, mib: 100 + i + (i % 2 ? 0.5 : -0.5) }));
    expect(slopeMiBPerHour(leak)).toBeCloseTo(60, 0);
    const flat = Array.from({ length: 31 }, (_, i) => ({ atSeconds: i * 60, mib: 100 + (i % 3) }));
    expect(Math.abs(slopeMiBPerHour(flat))).toBeLessThan(1);
    expect(slopeMiBPerHour([{ atSeconds: 0, mib: 1 }])).toBe(0);
    expect(
      slopeMiBPerHour([
        { atSeconds: 5, mib: 1 },
        { atSeconds: 5, mib: 9 },
      ]),
    ).toBe(0);
  });
});
