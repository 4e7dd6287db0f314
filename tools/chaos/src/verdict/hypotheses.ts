import type { Observer } from './observe.ts';
import { JOURNEYS, percentile, window, type Journey, type Sample, type Surge } from './load.ts';
import type { Check, Phases } from './check.ts';
import { journeyChecks, type JourneyBounds } from './journey-checks.ts';

export type { Check, Phases } from './check.ts';

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** Hypotheses declared as `nova.dev/*` annotations (Chaos Mesh ignores unknown annotations). */
export interface Hypotheses extends JourneyBounds {
  maxErrorRate: number;
  maxP99Ms?: number;
  /** p95 bound: for a fault whose few first requests are slow until a breaker opens (a p99 would see them). */
  maxP95Ms?: number;
  minP99IncreaseMs?: number;
  maxRecoverySeconds: number;
  expectBreakerOpen: string[];
  expectFallback: string[];
  /** `service:kind` pairs whose `resilience_events_total` must rise during the fault. */
  expectEvents: string[];
  /** `service:kind` pairs whose `resilience_events_total` must not rise during the fault. */
  expectNoEvents: string[];
  /**
   * Budget the load sends with each request of this experiment (`x-request-deadline-ms`), in ms; the load's
   * own timeout stays long, so what it measures is whether the services kept to the budget.
   */
  requestDeadlineMs?: number;
  /**
   * Halt condition: when the error rate over the last few seconds of the fault exceeds it, the fault is ended
   * early (on a cluster through Chaos Mesh's pause annotation) and the experiment fails.
   */
  abortErrorRate?: number;
  /** Extra requests of one journey during the fault (`nova.dev/load-surge: "login=40"`). */
  surge?: Surge;
}

/** When a halt condition ended a fault early: what was measured then. */
export interface Halt {
  /** The error rate over the window that exceeded the threshold. */
  errorRate: number;
  /** Requests in that window. */
  count: number;
  /** How long the fault had been held when it was halted, in ms. */
  afterMs: number;
  /** How the fault was ended (e.g. "paused through experiment.chaos-mesh.org/pause"). */
  how: string;
}

/** The halt condition's check, when `nova.dev/abort-error-rate` is declared: failed when it ended the fault. */
export function haltCheck(h: Hypotheses, halt: Halt | undefined): Check[] {
  if (h.abortErrorRate === undefined) return [];
  return [
    {
      name: 'halt condition',
      ok: halt === undefined,
      measured: halt
        ? `${pct(halt.errorRate)} errors (${halt.count} requests) ${(halt.afterMs / 1000).toFixed(1)} s into the fault: halted, ${halt.how}`
        : 'never reached',
      expected: `error rate <= ${pct(h.abortErrorRate)} throughout the fault`,
    },
  ];
}

/** Requests at least this many in the window before a halt condition may fire (a lone failure is not a trend). */
export const HALT_MIN_REQUESTS = 10;
/** The window a halt condition looks back over, in ms. */
export const HALT_WINDOW_MS = 5_000;

/** A `nova.dev/*` annotation whose value cannot be read; the message names the annotation and the fix. */
export class HypothesisAnnotationError extends Error {
  override readonly name = 'HypothesisAnnotationError';
}

const EVENT_PAIR = /^[\w.-]+:[\w-]+$/;

/**
 * Every `nova.dev/*` annotation an experiment may carry: the hypotheses' (read by {@link hypothesesFrom}) and
 * the production profile's approval (`policy.ts`). Any other is a typo that would silently drop a check.
 */
export const KNOWN_ANNOTATIONS: readonly string[] = [
  'max-error-rate',
  'max-p99-ms',
  'max-p95-ms',
  'min-p99-increase-ms',
  'max-recovery-seconds',
  'expect-breaker-open',
  'expect-fallback',
  'expect-events',
  'expect-no-events',
  'request-deadline-ms',
  'abort-error-rate',
  'load-surge',
  'journey-max-p99-ms',
  'journey-max-error-rate',
  'journey-min-goodput',
  'approved-by',
  'approval-ticket',
].map((k) => `nova.dev/${k}`);

/** Reads the hypotheses of an experiment from its annotations; throws {@link HypothesisAnnotationError} on a bad value. */
export function hypothesesFrom(annotations: Record<string, string>): Hypotheses {
  const num = (k: string, unit: string): number | undefined => {
    const raw = annotations[`nova.dev/${k}`];
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < 0) {
      throw new HypothesisAnnotationError(
        `metadata.annotations["nova.dev/${k}"]: ${JSON.stringify(raw)} is not a non-negative number; write ${unit}`,
      );
    }
    return v;
  };
  const list = (k: string): string[] =>
    (annotations[`nova.dev/${k}`] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const events = (k: string): string[] => {
    const pairs = list(k);
    const bad = pairs.find((p) => !EVENT_PAIR.test(p));
    if (bad !== undefined) {
      throw new HypothesisAnnotationError(
        `metadata.annotations["nova.dev/${k}"]: ${JSON.stringify(bad)} is not "service:kind"; write e.g. "messaging-service:deadline-exceeded"`,
      );
    }
    return pairs;
  };
  const byJourney = (k: string, unit: string): Partial<Record<Journey, number>> => {
    const out: Partial<Record<Journey, number>> = {};
    for (const pair of list(k)) {
      const [name = '', raw = ''] = pair.split('=').map((x) => x.trim());
      const v = Number(raw);
      if (!(JOURNEYS as readonly string[]).includes(name) || raw === '' || !Number.isFinite(v) || v < 0) {
        throw new HypothesisAnnotationError(
          `metadata.annotations["nova.dev/${k}"]: ${JSON.stringify(pair)} is not "journey=${unit}" with a journey of ${JOURNEYS.join(', ')}; write e.g. "login=${unit === 'a fraction' ? '0.01' : '40'}"`,
        );
      }
      out[name as Journey] = v;
    }
    return out;
  };
  const h: Hypotheses = {
    maxErrorRate: num('max-error-rate', 'a fraction, e.g. "0.01"') ?? 0.05,
    maxRecoverySeconds: num('max-recovery-seconds', 'seconds, e.g. "5"') ?? 10,
    expectBreakerOpen: list('expect-breaker-open'),
    expectFallback: list('expect-fallback'),
    expectEvents: events('expect-events'),
    expectNoEvents: events('expect-no-events'),
    journeyMaxP99Ms: byJourney('journey-max-p99-ms', 'ms'),
    journeyMaxErrorRate: byJourney('journey-max-error-rate', 'a fraction'),
    journeyMinGoodput: byJourney('journey-min-goodput', 'requests per second'),
  };
  const surges = Object.entries(byJourney('load-surge', 'requests per second'));
  if (surges.length > 1) {
    throw new HypothesisAnnotationError(
      `metadata.annotations["nova.dev/load-surge"]: names ${surges.length} journeys; a surge is of one journey, e.g. "login=40"`,
    );
  }
  if (surges[0]) h.surge = { journey: surges[0][0] as Journey, ratePerSecond: surges[0][1] };
  const maxP99Ms = num('max-p99-ms', 'ms, e.g. "500"');
  if (maxP99Ms !== undefined) h.maxP99Ms = maxP99Ms;
  const maxP95Ms = num('max-p95-ms', 'ms, e.g. "300"');
  if (maxP95Ms !== undefined) h.maxP95Ms = maxP95Ms;
  const minP99IncreaseMs = num('min-p99-increase-ms', 'ms, e.g. "50"');
  if (minP99IncreaseMs !== undefined) h.minP99IncreaseMs = minP99IncreaseMs;
  const abortErrorRate = num('abort-error-rate', 'a fraction, e.g. "0.2"');
  if (abortErrorRate !== undefined) h.abortErrorRate = abortErrorRate;
  const requestDeadlineMs = num('request-deadline-ms', 'ms, e.g. "600"');
  if (requestDeadlineMs !== undefined) {
    if (requestDeadlineMs === 0) {
      throw new HypothesisAnnotationError(
        'metadata.annotations["nova.dev/request-deadline-ms"]: "0" leaves no budget; write ms above 0, e.g. "600"',
      );
    }
    h.requestDeadlineMs = requestDeadlineMs;
  }
  return h;
}

/** `nova.dev/expect-breaker-open`: the breaker `pair` (`caller->upstream`) was seen open during the fault. */
export function breakerCheck(pair: string, opened: boolean): Check {
  return { name: `breaker ${pair}`, ok: opened, measured: opened ? 'opened' : 'stayed closed', expected: 'opens' };
}

/**
 * The checks on what the services reported during the fault (breakers, fallbacks, resilience events),
 * from the observer's scrapes, each compared with the last scrape before the fault.
 */
function observedChecks(h: Hypotheses, observer: Observer, p: Phases): Check[] {
  const checks: Check[] = [];
  const during = observer.between(p.faultStart, p.faultEnd + 500);
  for (const pair of h.expectBreakerOpen) {
    checks.push(
      breakerCheck(
        pair,
        during.some((o) => o.breakers[pair] === 1),
      ),
    );
  }
  for (const pair of h.expectFallback) {
    const before = observer.between(0, p.faultStart + 1).at(-1)?.fallbacks[pair] ?? 0;
    const after = during.at(-1)?.fallbacks[pair] ?? before;
    checks.push({
      name: `fallback ${pair}`,
      ok: after > before,
      measured: `used ${after - before} times`,
      expected: 'used',
    });
  }
  const events = (key: string): { before: number; after: number } => {
    const before = observer.between(0, p.faultStart + 1).at(-1)?.events[key] ?? 0;
    return { before, after: during.at(-1)?.events[key] ?? before };
  };
  for (const key of h.expectEvents) {
    const { before, after } = events(key);
    checks.push({
      name: `events ${key}`,
      ok: after > before,
      measured: `${after - before} during the fault`,
      expected: '> 0',
    });
  }
  for (const key of h.expectNoEvents) {
    const { before, after } = events(key);
    // Without a scrape during the fault, "none counted" would prove nothing.
    checks.push({
      name: `no events ${key}`,
      ok: during.length > 0 && after <= before,
      measured: during.length > 0 ? `${after - before} during the fault` : 'no scrape during the fault',
      expected: '0',
    });
  }
  return checks;
}

/** Evaluates the hypotheses over the load samples and the observations of one experiment. */
export function evaluate(
  h: Hypotheses,
  samples: readonly Sample[],
  observer: Observer,
  p: Phases,
  leftovers: number,
): Check[] {
  const base = window(samples, p.baselineStart, p.faultStart);
  const fault = window(samples, p.faultStart, p.faultEnd);
  const checks: Check[] = [];
  const errors = Math.round(fault.errorRate * fault.count);
  const how = [...fault.errorsBy]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  checks.push({
    name: 'error rate during the fault',
    ok: fault.errorRate <= h.maxErrorRate,
    measured: `${pct(fault.errorRate)} (${errors}/${fault.count}${how ? `: ${how}` : ''})`,
    expected: `<= ${pct(h.maxErrorRate)}`,
  });
  if (h.maxP99Ms !== undefined) {
    checks.push({
      name: 'p99 during the fault',
      ok: fault.p99 <= h.maxP99Ms,
      measured: `${Math.round(fault.p99)} ms`,
      expected: `<= ${h.maxP99Ms} ms`,
    });
  }
  if (h.maxP95Ms !== undefined) {
    const p95 = percentile(
      samples.filter((x) => x.at >= p.faultStart && x.at < p.faultEnd).map((x) => x.latencyMs),
      95,
    );
    checks.push({
      name: 'p95 during the fault',
      ok: p95 <= h.maxP95Ms,
      measured: `${Math.round(p95)} ms`,
      expected: `<= ${h.maxP95Ms} ms`,
    });
  }
  if (h.minP99IncreaseMs !== undefined) {
    const inc = fault.p99 - base.p99;
    checks.push({
      name: 'fault measurable (p99 rise)',
      ok: inc >= h.minP99IncreaseMs,
      measured: `+${Math.round(inc)} ms (${Math.round(base.p99)} → ${Math.round(fault.p99)})`,
      expected: `>= +${h.minP99IncreaseMs} ms`,
    });
  }
  checks.push(...journeyChecks(h, samples, p));
  checks.push(...observedChecks(h, observer, p));
  const recovery = p.recoveredAt === undefined ? undefined : (p.recoveredAt - p.faultEnd) / 1000;
  checks.push({
    name: 'recovery after the fault',
    ok: recovery !== undefined && recovery <= h.maxRecoverySeconds,
    measured: recovery === undefined ? 'not recovered' : `${recovery.toFixed(1)} s`,
    expected: `<= ${h.maxRecoverySeconds} s`,
  });
  checks.push({ name: 'no fault left behind', ok: leftovers === 0, measured: `${leftovers} active`, expected: '0' });
  return checks;
}
