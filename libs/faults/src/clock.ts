/**
 * This process's clocks, shifted: what TimeChaos does to a container's processes (Chaos Mesh rewrites the
 * vDSO `clock_gettime` of the chosen clock ids), done here on the JavaScript clocks a Node service reads.
 *
 * - `realtime` (CLOCK_REALTIME): `Date.now()`, `new Date()` and `Date()`.
 * - `monotonic` (CLOCK_MONOTONIC): `performance.now()`, `process.hrtime()` and `process.hrtime.bigint()`.
 *
 * Node's timers (`setTimeout`) run on libuv's own clock and are not shifted, as they would not be by a vDSO
 * patch of another clock id either. Several shifts stack (their offsets add); the originals come back when
 * the last one ends. Every read of a shifted clock is counted: a service that never reads it was not touched.
 */

/** One active shift: offsets in ms and the counter of reads it is told about. */
export interface ClockShift {
  realtimeMs: number;
  monotonicMs: number;
  onRead(clock: 'realtime' | 'monotonic'): void;
}

const RealDate = Date;
const realDateNow = Date.now;
const realPerformanceNow = performance.now.bind(performance);
const realHrtime = process.hrtime;
const realHrtimeBigint = process.hrtime.bigint;
// `now` may be the instance's own property or the prototype's, depending on the Node version.
const ownPerformanceNow = Object.getOwnPropertyDescriptor(performance, 'now');

const active = new Set<ClockShift>();

/**
 * The current wall-clock time, never shifted, in ms since the epoch: for the fault plumbing itself (leases,
 * heartbeats to the agent), which must keep time while the service's clock is the fault, and for evidence.
 */
export const realNow = (): number => realDateNow.call(RealDate);

function offset(clock: 'realtime' | 'monotonic'): number {
  let ms = 0;
  for (const s of active) {
    const d = clock === 'realtime' ? s.realtimeMs : s.monotonicMs;
    if (d !== 0) {
      ms += d;
      s.onRead(clock);
    }
  }
  return ms;
}

function shiftedNow(): number {
  return realNow() + offset('realtime');
}

/**
 * `Date` with a shifted "now". It shares `Date.prototype`, so `instanceof Date` holds both for dates made
 * before the shift and for dates made during it; only the argument-less forms read the clock.
 */
const ShiftedDate = function (this: unknown, ...args: unknown[]): Date | string {
  if (!new.target) return new RealDate(shiftedNow()).toString();
  return args.length === 0
    ? new RealDate(shiftedNow())
    : new (RealDate as unknown as new (...a: unknown[]) => Date)(...args);
} as unknown as DateConstructor;
Object.defineProperties(ShiftedDate, {
  prototype: { value: RealDate.prototype },
  now: { value: shiftedNow, writable: true, configurable: true },
  parse: { value: RealDate.parse, writable: true, configurable: true },
  UTC: { value: RealDate.UTC, writable: true, configurable: true },
});

function shiftedPerformanceNow(): number {
  return realPerformanceNow() + offset('monotonic');
}

function shiftedHrtimeBigint(): bigint {
  return realHrtimeBigint() + BigInt(Math.round(offset('monotonic') * 1e6));
}
function shiftedHrtime(previous?: [number, number]): [number, number] {
  const now = shiftedHrtimeBigint();
  const t = previous ? now - (BigInt(previous[0]) * 1_000_000_000n + BigInt(previous[1])) : now;
  return [Number(t / 1_000_000_000n), Number(t % 1_000_000_000n)];
}
shiftedHrtime.bigint = shiftedHrtimeBigint;

/** Patches exactly the clocks some active shift moves; puts back the others (only where still ours). */
function sync(): void {
  const realtime = [...active].some((s) => s.realtimeMs !== 0);
  const monotonic = [...active].some((s) => s.monotonicMs !== 0);
  if (realtime) globalThis.Date = ShiftedDate;
  // Code that patched a clock after us keeps its patch.
  else if (globalThis.Date === ShiftedDate) globalThis.Date = RealDate;
  if (monotonic) {
    Object.defineProperty(performance, 'now', { value: shiftedPerformanceNow, writable: true, configurable: true });
    process.hrtime = shiftedHrtime as typeof process.hrtime;
    return;
  }
  if (performance.now === shiftedPerformanceNow) {
    if (ownPerformanceNow) Object.defineProperty(performance, 'now', ownPerformanceNow);
    else delete (performance as { now?: unknown }).now;
  }
  if ((process.hrtime as unknown) === shiftedHrtime) process.hrtime = realHrtime;
}

/** Starts `shift`; returns its end (idempotent). */
export function shiftClocks(shift: ClockShift): () => void {
  active.add(shift);
  sync();
  return () => {
    if (active.delete(shift)) sync();
  };
}
