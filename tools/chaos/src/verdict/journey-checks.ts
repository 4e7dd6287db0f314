import type { Check, Phases } from './check.ts';
import { JOURNEYS, window, type Journey, type Sample } from './load.ts';

/** The per-journey hypotheses (`nova.dev/journey-*` annotations). */
export interface JourneyBounds {
  /** Per journey: p99 bound during the fault, in ms (`nova.dev/journey-max-p99-ms`). */
  journeyMaxP99Ms: Partial<Record<Journey, number>>;
  /** Per journey: error-rate bound during the fault, a fraction (`nova.dev/journey-max-error-rate`). */
  journeyMaxErrorRate: Partial<Record<Journey, number>>;
  /** Per journey: successful requests per second during the fault, at least (`nova.dev/journey-min-goodput`). */
  journeyMinGoodput: Partial<Record<Journey, number>>;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/**
 * The per-journey hypotheses over the fault's samples: a p99 and an error-rate bound per journey, and the
 * goodput (successful requests per second) a journey must keep — what shows whether an overloaded service
 * shed the excess of one journey while the others kept being served.
 */
export function journeyChecks(h: JourneyBounds, samples: readonly Sample[], p: Phases): Check[] {
  const checks: Check[] = [];
  const seconds = Math.max(p.faultEnd - p.faultStart, 1) / 1000;
  for (const journey of JOURNEYS) {
    const maxP99 = h.journeyMaxP99Ms[journey];
    const maxErrors = h.journeyMaxErrorRate[journey];
    const minGoodput = h.journeyMinGoodput[journey];
    if (maxP99 === undefined && maxErrors === undefined && minGoodput === undefined) continue;
    const mine = samples.filter((s) => s.journey === journey);
    const w = window(mine, p.faultStart, p.faultEnd);
    if (maxP99 !== undefined) {
      checks.push({
        name: `${journey} p99 during the fault`,
        // No request of the journey in the fault proves nothing about its latency.
        ok: w.count > 0 && w.p99 <= maxP99,
        measured: w.count > 0 ? `${Math.round(w.p99)} ms (${w.count} requests)` : 'no requests',
        expected: `<= ${maxP99} ms`,
      });
    }
    if (maxErrors !== undefined) {
      const failed = Math.round(w.errorRate * w.count);
      checks.push({
        name: `${journey} error rate during the fault`,
        ok: w.count > 0 && w.errorRate <= maxErrors,
        measured: w.count > 0 ? `${pct(w.errorRate)} (${failed}/${w.count})` : 'no requests',
        expected: `<= ${pct(maxErrors)}`,
      });
    }
    if (minGoodput !== undefined) {
      const ok = Math.round((1 - w.errorRate) * w.count);
      const goodput = ok / seconds;
      checks.push({
        name: `${journey} goodput during the fault`,
        ok: goodput >= minGoodput,
        measured: `${goodput.toFixed(1)}/s (${ok} of ${w.count} succeeded in ${seconds.toFixed(1)} s)`,
        expected: `>= ${minGoodput}/s`,
      });
    }
  }
  return checks;
}
