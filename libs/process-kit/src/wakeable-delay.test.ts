import { describe, expect, it } from 'vitest';
import { WakeableDelay } from './wakeable-delay.ts';

describe('WakeableDelay', () => {
  it('resolves after its time, or at end(); once ended, every later wait resolves at once', async () => {
    const delay = new WakeableDelay();
    let t = performance.now();
    await delay.wait(30);
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);
    t = performance.now();
    const long = delay.wait(60_000);
    setTimeout(() => delay.end(), 20);
    await long;
    expect(performance.now() - t).toBeLessThan(5_000);
    t = performance.now();
    await delay.wait(60_000);
    expect(performance.now() - t).toBeLessThan(50);
  });
});
