import { describe, expect, it } from 'vitest';
import { noopDriver } from './drivers/driver.ts';
import { DriverRegistry } from './drivers/index.ts';
import { parseEffect, RequestMeter, unmeasured } from './effect.ts';
import { FaultRuntime } from './runtime.ts';

describe('RequestMeter', () => {
  it('counts seen and affected requests and says so in one line', () => {
    const m = new RequestMeter('aborted');
    m.seen = 10;
    m.affected = 3;
    expect(m.effect()).toEqual({
      took: true,
      summary: 'aborted 3 of 10 requests',
      figures: { seen: 10, affected: 3, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
    expect(new RequestMeter('reset', 'calls to user-service').effect()).toEqual({
      took: false,
      summary: 'reset 0 of 0 calls to user-service',
      figures: { seen: 0, affected: 0, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
  });

  it('reports the mean over every delay and the p99 over the most recent 4 096', () => {
    const m = new RequestMeter('delayed');
    // 10 000 delays: the first 5 904 of 1 000 ms, then 4 096 of 1..4 096 ms (what the p99 sees).
    for (let i = 0; i < 5_904; i++) m.delayed(1_000);
    for (let i = 1; i <= 4_096; i++) m.delayed(i);
    const { figures } = m.effect();
    expect(figures['addedMeanMs']).toBeCloseTo((5_904 * 1_000 + (4_096 * 4_097) / 2) / 10_000, 1);
    expect(figures['addedP99Ms']).toBe(4_056);
  });
});

describe('parseEffect', () => {
  it('reads what a driver wrote and refuses anything else', () => {
    const e = { took: true, summary: 'x', figures: { a: 1 } };
    expect(parseEffect(JSON.stringify(e))).toEqual(e);
    expect(parseEffect('')).toBeUndefined();
    expect(parseEffect(undefined)).toBeUndefined();
    expect(parseEffect('{not json')).toBeUndefined();
    expect(parseEffect('{"took":"yes","summary":"x","figures":{}}')).toBeUndefined();
    expect(parseEffect('{"took":true,"summary":"x","figures":null}')).toBeUndefined();
  });
});

describe('FaultRuntime effects', () => {
  it('keeps the final effect of an ended fault, and says "no effect measured" for a driver without a meter', async () => {
    const blind = { ...noopDriver, kind: 'blind', apply: () => ({ recover: () => {} }) };
    const rt = new FaultRuntime(new DriverRegistry([noopDriver, blind]));
    const ended: unknown[] = [];
    rt.onChange((c) => c.type === 'ended' && ended.push(c.effect));
    await rt.apply('a', 'noop', {}, 60_000);
    await rt.apply('b', 'blind', {}, 60_000);
    expect(rt.effect('a')?.took).toBe(true);
    await rt.recoverAll();
    expect(rt.effect('a')).toEqual({ took: true, summary: 'noop: nothing to do', figures: {} });
    expect(rt.effect('b')).toEqual(unmeasured('blind'));
    expect(ended).toEqual([rt.effect('a'), rt.effect('b')]);
    expect(rt.effect('never')).toBeUndefined();
  });
});
