import { describe, expect, it } from 'vitest';
import { evaluate, haltCheck, HypothesisAnnotationError, hypothesesFrom } from './hypotheses.ts';
import type { Sample } from './load.ts';
import { addEvents, type Observation, type Observer } from './observe.ts';

const noObservations = { between: () => [] } as unknown as Observer;
const phases = { baselineStart: 0, faultStart: 1_000, faultEnd: 2_000, recoveredAt: 2_500 };
const sample = (
  at: number,
  ok: boolean,
  journey = 'read-profile',
  status: number | string = ok ? 200 : 503,
): Sample => ({ at, journey, latencyMs: 5, ok, status });

describe('evaluate', () => {
  it('judges the error rate in the fault window only, and names which calls failed and how', () => {
    const samples = [
      sample(500, false), // baseline: not counted
      ...Array.from({ length: 96 }, (_, i) => sample(1_000 + i * 10, true)),
      sample(1_100, false, 'login', 503),
      sample(1_200, false, 'read-profile', 'UND_ERR_SOCKET'),
      sample(1_300, false, 'login', 503),
      sample(1_400, false, 'login', 503),
      sample(2_000, false), // after the window's end: not counted
    ];
    const [rate] = evaluate(hypothesesFrom({ 'nova.dev/max-error-rate': '0.05' }), samples, noObservations, phases, 0);
    expect(rate).toEqual({
      name: 'error rate during the fault',
      ok: true,
      measured: '4.0 % (4/100: login 503 ×3, read-profile UND_ERR_SOCKET ×1)',
      expected: '<= 5.0 %',
    });
    const [strict] = evaluate(
      hypothesesFrom({ 'nova.dev/max-error-rate': '0.03' }),
      samples,
      noObservations,
      phases,
      0,
    );
    expect(strict!.ok).toBe(false);
  });

  it('says nothing more than the count when no call failed', () => {
    const [rate] = evaluate(hypothesesFrom({}), [sample(1_500, true)], noObservations, phases, 0);
    expect(rate!.measured).toBe('0.0 % (0/1)');
  });

  it('fails recovery that never came and a fault left behind', () => {
    const checks = evaluate(hypothesesFrom({}), [], noObservations, { ...phases, recoveredAt: undefined }, 1);
    expect(checks.find((c) => c.name === 'recovery after the fault')).toMatchObject({
      ok: false,
      measured: 'not recovered',
    });
    expect(checks.find((c) => c.name === 'no fault left behind')).toMatchObject({ ok: false, measured: '1 active' });
  });
});

/** An observer holding these observations (at, events), as the real one after its scrapes. */
function observed(list: Array<[number, Record<string, number>]>): Observer {
  const observations: Observation[] = list.map(([at, events]) => ({
    at,
    events,
    breakers: {},
    fallbacks: {},
    healthy: {},
  }));
  return {
    observations,
    between: (from: number, to: number) => observations.filter((o) => o.at >= from && o.at < to),
  } as unknown as Observer;
}

describe('event hypotheses', () => {
  const h = hypothesesFrom({
    'nova.dev/expect-events': 'messaging-service:deadline-exceeded',
    'nova.dev/expect-no-events': 'messaging-service:retry',
  });

  it('holds when the expected events rose during the fault and the forbidden ones did not', () => {
    const o = observed([
      [900, { 'messaging-service:deadline-exceeded': 2, 'messaging-service:retry': 5 }],
      [1_500, { 'messaging-service:deadline-exceeded': 9, 'messaging-service:retry': 5 }],
      [3_000, { 'messaging-service:deadline-exceeded': 50, 'messaging-service:retry': 60 }], // after: not counted
    ]);
    const checks = evaluate(h, [], o, phases, 0);
    expect(checks.find((c) => c.name === 'events messaging-service:deadline-exceeded')).toMatchObject({
      ok: true,
      measured: '7 during the fault',
    });
    expect(checks.find((c) => c.name === 'no events messaging-service:retry')).toMatchObject({
      ok: true,
      measured: '0 during the fault',
    });
  });

  it('fails when the expected events did not rise, or forbidden ones did, or nothing was scraped', () => {
    const o = observed([
      [900, { 'messaging-service:deadline-exceeded': 2 }],
      [1_500, { 'messaging-service:deadline-exceeded': 2, 'messaging-service:retry': 3 }],
    ]);
    const checks = evaluate(h, [], o, phases, 0);
    expect(checks.find((c) => c.name.startsWith('events'))?.ok).toBe(false);
    expect(checks.find((c) => c.name.startsWith('no events'))).toMatchObject({
      ok: false,
      measured: '3 during the fault',
    });
    const blind = evaluate(h, [], observed([[900, {}]]), phases, 0);
    expect(blind.find((c) => c.name.startsWith('no events'))).toMatchObject({
      ok: false,
      measured: 'no scrape during the fault',
    });
  });

  it('reads resilience_events_total from a scrape, summed over policies and instances', () => {
    const events: Record<string, number> = {};
    const scrape = [
      '# HELP resilience_events_total Events',
      'resilience_events_total{service="messaging-service",kind="retry",policy="auth-service"} 3',
      'resilience_events_total{service="messaging-service",kind="retry",policy="user-service"} 2',
      'resilience_events_total{kind="shed",policy="limit",service="auth-service"} 1',
      'circuit_breaker_state{service="messaging-service",upstream="auth-service"} 1',
    ].join('\n');
    addEvents(scrape, events);
    addEvents(scrape, events);
    expect(events).toEqual({ 'messaging-service:retry': 10, 'auth-service:shed': 2 });
  });
});

describe('p95 hypothesis', () => {
  it('bounds the 95th percentile of the fault window: a few slow requests pass, more do not', () => {
    const h = hypothesesFrom({ 'nova.dev/max-p95-ms': '100' });
    const at = (i: number): number => 1_000 + i * 9;
    const fast = Array.from({ length: 96 }, (_, i) => ({ ...sample(at(i), true), latencyMs: 20 }));
    const slow = (n: number) => Array.from({ length: n }, (_, i) => ({ ...sample(at(96 + i), true), latencyMs: 600 }));
    const check = (extra: Sample[]) =>
      evaluate(h, [...fast, ...extra], noObservations, phases, 0).find((c) => c.name === 'p95 during the fault');
    expect(check(slow(4))).toMatchObject({ ok: true, measured: '20 ms', expected: '<= 100 ms' });
    expect(check(slow(6))).toMatchObject({ ok: false, measured: '600 ms' });
  });
});

describe('the halt condition', () => {
  it('is a check only when declared, failed when it ended the fault, naming how', () => {
    expect(haltCheck(hypothesesFrom({}), undefined)).toEqual([]);
    const h = hypothesesFrom({ 'nova.dev/abort-error-rate': '0.2' });
    expect(h.abortErrorRate).toBe(0.2);
    expect(haltCheck(h, undefined)).toEqual([
      {
        name: 'halt condition',
        ok: true,
        measured: 'never reached',
        expected: 'error rate <= 20.0 % throughout the fault',
      },
    ]);
    const halt = { errorRate: 0.5, count: 40, afterMs: 2_500, how: 'the fault recovered at once' };
    expect(haltCheck(h, halt)).toEqual([
      {
        name: 'halt condition',
        ok: false,
        measured: '50.0 % errors (40 requests) 2.5 s into the fault: halted, the fault recovered at once',
        expected: 'error rate <= 20.0 % throughout the fault',
      },
    ]);
  });
});

describe('per-journey hypotheses', () => {
  const h = hypothesesFrom({
    'nova.dev/journey-max-p99-ms': 'read-profile=100',
    'nova.dev/journey-max-error-rate': 'read-profile=0.1',
    'nova.dev/journey-min-goodput': 'login=3',
  });
  const at = (ms: number, journey: string, ok: boolean, latencyMs: number): Sample => ({
    at: ms,
    journey,
    latencyMs,
    ok,
    status: ok ? 200 : 503,
  });
  const journeyChecks = (samples: Sample[]) =>
    evaluate(h, samples, noObservations, phases, 0).filter((c) => /^(read-profile|login) /.test(c.name));

  it('judges each journey on its own samples in the fault window, goodput per second of the fault', () => {
    const samples = [
      at(500, 'read-profile', false, 900), // baseline: not counted
      ...Array.from({ length: 19 }, (_, i) => at(1_000 + i * 50, 'read-profile', true, 20)),
      at(1_500, 'read-profile', false, 80),
      // 4 logins succeeded in the 1 s fault: 4/s; the slow ones are another journey's, not read-profile's.
      ...Array.from({ length: 4 }, (_, i) => at(1_100 + i * 100, 'login', true, 5_000)),
      at(1_900, 'login', false, 1),
    ];
    expect(journeyChecks(samples)).toEqual([
      { name: 'read-profile p99 during the fault', ok: true, measured: '80 ms (20 requests)', expected: '<= 100 ms' },
      {
        name: 'read-profile error rate during the fault',
        ok: true,
        measured: '5.0 % (1/20)',
        expected: '<= 10.0 %',
      },
      {
        name: 'login goodput during the fault',
        ok: true,
        measured: '4.0/s (4 of 5 succeeded in 1.0 s)',
        expected: '>= 3/s',
      },
    ]);
  });

  it('fails a journey over its bounds, under its goodput, or with no requests to judge', () => {
    const slow = [
      ...Array.from({ length: 8 }, (_, i) => at(1_000 + i * 100, 'read-profile', i > 5, 150)),
      ...Array.from({ length: 2 }, (_, i) => at(1_000 + i * 100, 'login', true, 5)),
    ];
    expect(journeyChecks(slow).map((c) => [c.name, c.ok, c.measured])).toEqual([
      ['read-profile p99 during the fault', false, '150 ms (8 requests)'],
      ['read-profile error rate during the fault', false, '75.0 % (6/8)'],
      ['login goodput during the fault', false, '2.0/s (2 of 2 succeeded in 1.0 s)'],
    ]);
    expect(journeyChecks([]).map((c) => [c.ok, c.measured])).toEqual([
      [false, 'no requests'],
      [false, 'no requests'],
      [false, '0.0/s (0 of 0 succeeded in 1.0 s)'],
    ]);
  });
});

describe('hypothesis annotations', () => {
  it('reads a surge and the per-journey bounds', () => {
    const h = hypothesesFrom({
      'nova.dev/load-surge': ' login = 100 ',
      'nova.dev/journey-max-p99-ms': 'login=1000, read-profile=300',
      'nova.dev/journey-max-error-rate': 'send-message=0.01',
      'nova.dev/journey-min-goodput': 'login=25',
    });
    expect(h.surge).toEqual({ journey: 'login', ratePerSecond: 100 });
    expect(h.journeyMaxP99Ms).toEqual({ login: 1000, 'read-profile': 300 });
    expect(h.journeyMaxErrorRate).toEqual({ 'send-message': 0.01 });
    expect(h.journeyMinGoodput).toEqual({ login: 25 });
    const none = hypothesesFrom({});
    expect(none.surge).toBeUndefined();
    expect(none.journeyMaxP99Ms).toEqual({});
  });

  it('reads the budget the load should send', () => {
    expect(hypothesesFrom({ 'nova.dev/request-deadline-ms': '600' }).requestDeadlineMs).toBe(600);
    expect(hypothesesFrom({}).requestDeadlineMs).toBeUndefined();
  });

  it.each([
    ['nova.dev/max-p99-ms', 'fast', /nova.dev\/max-p99-ms.*"fast".*write ms/],
    ['nova.dev/max-error-rate', '-1', /max-error-rate.*write a fraction/],
    ['nova.dev/request-deadline-ms', '0', /request-deadline-ms.*no budget/],
    ['nova.dev/abort-error-rate', 'half', /abort-error-rate.*"half".*write a fraction/],
    ['nova.dev/expect-events', 'messaging-service', /expect-events.*"messaging-service" is not "service:kind"/],
    ['nova.dev/load-surge', 'logins=40', /load-surge.*"logins=40" is not "journey=.*read-profile, login, send-message/],
    ['nova.dev/load-surge', 'login=40,read-profile=5', /load-surge.*names 2 journeys; a surge is of one journey/],
    ['nova.dev/journey-max-p99-ms', 'login=fast', /journey-max-p99-ms.*"login=fast".*write e.g. "login=40"/],
    ['nova.dev/journey-max-error-rate', 'login', /journey-max-error-rate.*"login" is not.*"login=0.01"/],
    ['nova.dev/journey-min-goodput', 'login=-3', /journey-min-goodput.*"login=-3"/],
  ])('refuses %s: %s, naming the annotation and the fix', (key, value, message) => {
    expect(() => hypothesesFrom({ [key]: value })).toThrow(HypothesisAnnotationError);
    expect(() => hypothesesFrom({ [key]: value })).toThrow(message);
  });
});
