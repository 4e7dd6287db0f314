import { breakerCheck, type Check, type Hypotheses } from '../verdict/hypotheses.ts';
import type { ChaosObject } from './chaos-objects.ts';
import { QUERIES, type Prometheus, type WindowFigures } from './promql.ts';

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** The moments of one experiment on a cluster, ms since the epoch. */
export interface ClusterPhases {
  baselineStart: number;
  /** Chaos Mesh reported AllInjected. */
  faultStart: number;
  /** Chaos Mesh reported AllRecovered (or the object was deleted). */
  faultEnd: number;
  /** The end of the window after the fault in which the services must be steady again. */
  verifyEnd: number;
}

/**
 * The hypotheses of one experiment judged from Prometheus: the same checks, names and bounds as a local run's
 * (`hypotheses.ts`), with the figures of the services' own metrics instead of the load's samples.
 */
export async function clusterChecks(
  h: Hypotheses,
  prom: Prometheus,
  p: ClusterPhases,
  fault: WindowFigures,
  after: WindowFigures,
): Promise<Check[]> {
  const checks: Check[] = [];
  const faultMs = p.faultEnd - p.faultStart;
  checks.push({
    name: 'error rate during the fault',
    ok: fault.errorRate <= h.maxErrorRate,
    measured: `${pct(fault.errorRate)} (${Math.round(fault.errorRate * fault.count)}/${fault.count} answered 5xx)`,
    expected: `<= ${pct(h.maxErrorRate)}`,
  });
  if (h.maxP99Ms !== undefined)
    checks.push({
      name: 'p99 during the fault',
      ok: fault.p99 <= h.maxP99Ms,
      measured: `${Math.round(fault.p99)} ms`,
      expected: `<= ${h.maxP99Ms} ms`,
    });
  if (h.maxP95Ms !== undefined)
    checks.push({
      name: 'p95 during the fault',
      ok: fault.p95 <= h.maxP95Ms,
      measured: `${Math.round(fault.p95)} ms`,
      expected: `<= ${h.maxP95Ms} ms`,
    });
  // `service->upstream` (breakers, fallbacks) and `service:kind` (events), as the annotations write them.
  const split = (s: string, sep: string): [string, string] => [
    s.slice(0, s.indexOf(sep)),
    s.slice(s.indexOf(sep) + sep.length),
  ];
  for (const key of h.expectBreakerOpen) {
    const opened = (await prom.value(QUERIES.breakerOpened(...split(key, '->'), faultMs), p.faultEnd)) === 1;
    checks.push(breakerCheck(key, opened));
  }
  for (const key of h.expectFallback) {
    const n = Math.round((await prom.value(QUERIES.fallbacks(...split(key, '->'), faultMs), p.faultEnd)) ?? 0);
    checks.push({ name: `fallback ${key}`, ok: n > 0, measured: `used ${n} times`, expected: 'used' });
  }
  for (const key of [...h.expectEvents, ...h.expectNoEvents]) {
    const n = Math.round((await prom.value(QUERIES.events(...split(key, ':'), faultMs), p.faultEnd)) ?? 0);
    const expected = h.expectEvents.includes(key);
    checks.push({
      name: `${expected ? '' : 'no '}events ${key}`,
      ok: expected ? n > 0 : n === 0,
      measured: `${n} during the fault`,
      expected: expected ? '> 0' : '0',
    });
  }
  // The per-journey hypotheses and a surge need our load's samples, which a cluster run does not have: say so
  // as an unmet evidence check (the verdict is inconclusive), rather than pass without judging them.
  const perJourney = [
    ...Object.keys(h.journeyMaxP99Ms).map((j) => `journey-max-p99-ms ${j}`),
    ...Object.keys(h.journeyMaxErrorRate).map((j) => `journey-max-error-rate ${j}`),
    ...Object.keys(h.journeyMinGoodput).map((j) => `journey-min-goodput ${j}`),
    ...(h.surge ? [`load-surge ${h.surge.journey}`] : []),
  ];
  if (perJourney.length > 0)
    checks.push({
      name: 'per-journey hypotheses',
      ok: false,
      measured: `not judged on a cluster (${perJourney.join(', ')}): they need the built-in load's samples`,
      expected: 'judged (run the experiment with --env local or containers)',
      evidence: true,
    });
  const recoveryS = (p.verifyEnd - p.faultEnd) / 1000;
  checks.push({
    name: 'recovery after the fault',
    ok: after.count > 0 && after.errorRate <= h.maxErrorRate && recoveryS <= h.maxRecoverySeconds + 1,
    measured:
      after.count > 0
        ? `${pct(after.errorRate)} errors in the ${recoveryS.toFixed(0)} s after (${after.count} requests)`
        : 'no request answered after the fault',
    expected: `steady within ${h.maxRecoverySeconds} s`,
  });
  return checks;
}

/**
 * The evidence that the fault took effect, as Chaos Mesh recorded it (its daemon's records per selected pod):
 * each record injected at least once, and recovered. Weaker than a local run's effect figures, which count
 * what each fault did to requests; on a cluster the daemon's record is what the platform gives.
 */
export function recordChecks(o: ChaosObject | undefined): Check[] {
  const records = o?.status?.experiment?.containerRecords ?? [];
  if (records.length === 0)
    return [
      {
        name: 'fault took effect (Chaos Mesh records)',
        ok: false,
        measured: 'no record: Chaos Mesh selected no pod, or its status was not written',
        expected: 'each selected pod injected',
        evidence: true,
      },
    ];
  return records.map((r) => ({
    name: `fault took effect on ${r.id} (Chaos Mesh record)`,
    ok: (r.injectedCount ?? 0) >= 1,
    measured: `${r.phase}, injected ${r.injectedCount ?? 0}×, recovered ${r.recoveredCount ?? 0}×`,
    expected: 'injected at least once',
    evidence: true,
  }));
}
