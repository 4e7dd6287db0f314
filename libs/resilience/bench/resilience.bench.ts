/**
 * `npx nx bench resilience`: ns per call of the success path and of the open-breaker fast-fail, for a bare
 * async call, our composed policy, cockatiel's equivalent pipeline and opossum's `fire()`, measured in one
 * run. Each case runs in 3 interleaved rounds (mitata, batched); the figure is the median of the rounds' p50.
 * Prints a table, then one JSON line with the figures and the ratios.
 */
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TimeoutStrategy,
  bulkhead as cBulkhead,
  circuitBreaker as cBreaker,
  handleWhen,
  retry as cRetry,
  timeout as cTimeout,
  wrap,
} from 'cockatiel';
import { measure } from 'mitata';
import CircuitBreaker from 'opossum';
import { bulkhead, circuitBreaker, compose, retry, timeout } from '../src/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CPU_MS = Number(process.env.BENCH_CPU_MS ?? 400);

const ok = async (): Promise<number> => 1;
const noop = (): void => {};

// Ours: timeout + retry + breaker + bulkhead, outermost first.
const ourBreaker = circuitBreaker({ minimumVolume: 5 });
const ours = compose(timeout(1000), retry({ maxAttempts: 3 }), ourBreaker, bulkhead(100, 0));
const ourOpenBreaker = circuitBreaker();
ourOpenBreaker.isolate();
const oursOpen = compose(timeout(1000), retry({ maxAttempts: 3 }), ourOpenBreaker, bulkhead(100, 0));

// cockatiel: the same pipeline; retry told not to retry the breaker's rejection (otherwise it backs off).
const handleNotBroken = handleWhen((e) => !(e instanceof BrokenCircuitError));
const cockatiel = wrap(
  cTimeout(1000, TimeoutStrategy.Cooperative),
  cRetry(handleNotBroken, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  cBreaker(handleNotBroken, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(5) }),
  cBulkhead(100),
);
const cockatielOpenBreaker = cBreaker(handleNotBroken, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(5) });
cockatielOpenBreaker.isolate();
const cockatielOpen = wrap(
  cTimeout(1000, TimeoutStrategy.Cooperative),
  cRetry(handleNotBroken, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  cockatielOpenBreaker,
  cBulkhead(100),
);

// opossum with its defaults (10 s timeout timer per call, rolling percentiles, snapshots).
const opossum = new CircuitBreaker(ok);
const opossumOpen = new CircuitBreaker(ok);
opossumOpen.open();

const cases: Record<string, () => Promise<unknown>> = {
  bare: () => ok(),
  composed: () => ours.execute(ok),
  cockatiel: () => cockatiel.execute(ok),
  opossum: () => opossum.fire(),
  composedOpen: () => oursOpen.execute(ok).catch(noop),
  cockatielOpen: () => cockatielOpen.execute(ok).catch(noop),
  opossumOpen: () => opossumOpen.fire().catch(noop),
};

const labels: Record<string, string> = {
  bare: 'bare async call',
  composed: 'ours: timeout+retry+breaker+bulkhead',
  cockatiel: 'cockatiel wrap(timeout,retry,breaker,bulkhead)',
  opossum: 'opossum fire() (defaults)',
  composedOpen: 'ours: open breaker fast-fail',
  cockatielOpen: 'cockatiel: open breaker fast-fail',
  opossumOpen: 'opossum: open breaker fast-fail',
};

const rounds: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(cases)) {
    const stats = await measure(fn, { batch_threshold: Infinity, min_cpu_time: CPU_MS * 1e6 });
    (rounds[name] ??= []).push(stats.p50);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ns: Record<string, number> = {};
for (const name of Object.keys(cases)) ns[name] = Math.round(median(rounds[name]!));

const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - s.length));
console.log(`resilience benchmark: Node ${process.version}, ${ROUNDS} rounds × ${CPU_MS} ms CPU per case; ns per call (median of p50s)`);
console.log(pad('case', 50) + pad('ns/call', 10) + 'vs bare');
for (const name of Object.keys(cases)) {
  console.log(pad(labels[name]!, 50) + pad(String(ns[name]), 10) + (ns[name]! / ns['bare']!).toFixed(1) + '×');
}
const result = {
  bench: 'resilience',
  node: process.version,
  ns,
  ratios: {
    composed_over_cockatiel: +(ns['composed']! / ns['cockatiel']!).toFixed(3),
    composed_over_opossum: +(ns['composed']! / ns['opossum']!).toFixed(3),
    composedOpen_over_cockatielOpen: +(ns['composedOpen']! / ns['cockatielOpen']!).toFixed(3),
    composedOpen_over_opossumOpen: +(ns['composedOpen']! / ns['opossumOpen']!).toFixed(3),
  },
};
ourBreaker.dispose();
ourOpenBreaker.dispose();
opossum.shutdown();
opossumOpen.shutdown();
console.log(JSON.stringify(result));
