import { realNow, shiftClocks } from '../clock.ts';
import type { FaultEffect } from '../effect.ts';
import { FaultSpecError } from '../errors.ts';
import { SpecReader } from '../spec.ts';
import type { FaultDriver } from './driver.ts';

/** The clocks a time shift can move (Chaos Mesh's clock ids, grouped by the Node clocks that read them). */
export const TIME_CLOCKS = ['realtime', 'monotonic'] as const;
export type TimeClock = (typeof TIME_CLOCKS)[number];

interface TimeSpec {
  /** Signed offset, in ms. */
  offsetMs: number;
  clocks: TimeClock[];
}

/** The longest shift accepted, in ms (a year): anything larger is a typo, not an experiment. */
const MAX_OFFSET_MS = 366 * 24 * 3_600_000;

/** A signed duration for a summary: `+10m`, `-1h30m`, `+250ms`. */
function signed(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return sign + parts.join('');
}

/**
 * TimeChaos: this process's wall clock (and, when asked, its monotonic clock) runs `offsetMs` off from the
 * machine's. The evidence is the service's own reads of the shifted clocks during the fault and the offset
 * measured on one of them; a service that never read the clock was not affected.
 */
export const timeOffset: FaultDriver<TimeSpec> = {
  kind: 'time-offset',
  description: 'shift the clocks this process reads (offsetMs, signed; clocks: realtime | monotonic)',
  parse(spec) {
    const r = new SpecReader('time-offset', spec);
    r.only('offsetMs', 'clocks');
    const offsetMs = r.number('offsetMs', { min: -MAX_OFFSET_MS, max: MAX_OFFSET_MS, integer: true });
    if (offsetMs === 0)
      throw new FaultSpecError('time-offset', 'offsetMs', 'must not be 0: a shift of nothing cannot be seen');
    const clocks = r.strings('clocks') ?? ['realtime'];
    if (clocks.length === 0)
      throw new FaultSpecError('time-offset', 'clocks', `must name at least one of ${TIME_CLOCKS.join(', ')}`);
    for (const c of clocks) {
      if (!(TIME_CLOCKS as readonly string[]).includes(c))
        throw new FaultSpecError('time-offset', 'clocks', `must be among ${TIME_CLOCKS.join(', ')}, got "${c}"`);
    }
    return { offsetMs, clocks: [...new Set(clocks)] as TimeClock[] };
  },
  apply(spec) {
    const reads = { realtime: 0, monotonic: 0 };
    const end = shiftClocks({
      realtimeMs: spec.clocks.includes('realtime') ? spec.offsetMs : 0,
      monotonicMs: spec.clocks.includes('monotonic') ? spec.offsetMs : 0,
      onRead: (clock) => reads[clock]++,
    });
    // The offset as this process now sees it, measured once against the unshifted clock.
    const measuredMs = spec.clocks.includes('realtime') ? Date.now() - realNow() : spec.offsetMs;
    reads.realtime = 0;
    const effect = (): FaultEffect => {
      const total = reads.realtime + reads.monotonic;
      const which = spec.clocks.map((c) => `${c} ${reads[c]}`).join(', ');
      return {
        took: total > 0 && Math.abs(measuredMs - spec.offsetMs) <= 5,
        summary: `clock shifted ${signed(measuredMs)} (asked ${signed(spec.offsetMs)}); the service read it ${total} times (${which})`,
        figures: { reads: total, realtimeReads: reads.realtime, monotonicReads: reads.monotonic, offsetMs: measuredMs },
      };
    };
    return { recover: end, effect };
  },
};
