import { afterEach, describe, expect, it } from 'vitest';
import { realNow } from './clock.ts';
import { FaultRuntime } from './runtime.ts';

const runtime = new FaultRuntime();
const RealDate = Date;
const realPerformanceNow = performance.now;
afterEach(() => runtime.recoverAll());

describe('TimeChaos in-process (time-offset)', () => {
  it('shifts the wall clock by the offset (Date.now, new Date, Date()), and puts it back at recovery', async () => {
    const before = Date.now();
    await runtime.apply('t', 'time-offset', { offsetMs: -300_000 }, 60_000);
    expect(Date.now() - realNow()).toBeGreaterThanOrEqual(-300_001);
    expect(Date.now() - realNow()).toBeLessThanOrEqual(-299_999);
    expect(new Date().getTime()).toBeLessThan(before - 299_000);
    expect(new RealDate(Date()).getTime()).toBeLessThan(before - 299_000);
    // Dates built from a value are not touched, and both old and new dates are still Dates.
    expect(new Date(0).getTime()).toBe(0);
    expect(new RealDate(5) instanceof Date).toBe(true);
    expect(new Date() instanceof RealDate).toBe(true);
    expect(Date.UTC(2026, 0, 1)).toBe(RealDate.UTC(2026, 0, 1));
    // The monotonic clock was not asked for: untouched.
    expect(performance.now).toBe(realPerformanceNow);
    const effect = runtime.effect('t')!;
    expect(effect.took).toBe(true);
    // Measured, not echoed: two clock reads may straddle a millisecond tick.
    expect(Math.abs(effect.figures['offsetMs']! + 300_000)).toBeLessThanOrEqual(1);
    expect(effect.figures['realtimeReads']).toBe(5);
    expect(effect.summary).toMatch(
      /^clock shifted -5m(1ms)? \(asked -5m\); the service read it 5 times \(realtime 5\)$/,
    );
    await runtime.recover('t');
    expect(Date).toBe(RealDate);
    expect(Math.abs(Date.now() - realNow())).toBeLessThanOrEqual(1);
  });

  it('shifts the monotonic clocks only when asked, and stacks two shifts', async () => {
    const p0 = performance.now();
    const h0 = process.hrtime.bigint();
    await runtime.apply('m', 'time-offset', { offsetMs: 3_600_000, clocks: ['monotonic'] }, 60_000);
    await runtime.apply('r', 'time-offset', { offsetMs: 1_000 }, 60_000);
    expect(performance.now() - p0).toBeGreaterThanOrEqual(3_600_000);
    expect(Number((process.hrtime.bigint() - h0) / 1_000_000n)).toBeGreaterThanOrEqual(3_600_000);
    const [s] = process.hrtime();
    expect(s).toBeGreaterThanOrEqual(3_600);
    expect(Date.now() - realNow()).toBeGreaterThanOrEqual(999);
    expect(runtime.effect('m')).toMatchObject({ took: true, figures: { monotonicReads: 3, realtimeReads: 0 } });
    await runtime.recover('m');
    expect(performance.now() - p0).toBeLessThan(60_000);
    expect(Date.now() - realNow()).toBeGreaterThanOrEqual(999);
    await runtime.recover('r');
    expect(Date).toBe(RealDate);
  });

  it('a shift nobody reads did not take: the effect says so', async () => {
    await runtime.apply('idle', 'time-offset', { offsetMs: 60_000, clocks: ['monotonic'] }, 60_000);
    expect(runtime.effect('idle')).toMatchObject({ took: false, figures: { reads: 0 } });
  });

  it('refuses a zero or absurd offset and unknown clocks, naming the field', async () => {
    await expect(runtime.apply('e', 'time-offset', { offsetMs: 0 }, 1000)).rejects.toThrow(
      'time-offset: spec.offsetMs must not be 0: a shift of nothing cannot be seen',
    );
    await expect(runtime.apply('e', 'time-offset', { offsetMs: 1e12 }, 1000)).rejects.toThrow(
      /spec.offsetMs must be an integer between/,
    );
    await expect(runtime.apply('e', 'time-offset', { offsetMs: 5, clocks: ['CLOCK_TAI'] }, 1000)).rejects.toThrow(
      'time-offset: spec.clocks must be among realtime, monotonic, got "CLOCK_TAI"',
    );
    expect(Date).toBe(RealDate);
  });
});
