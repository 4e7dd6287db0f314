/**
 * `npx nx bench resilience`: ns per call of the success path and of the open-breaker fast-fail, for a bare
 * async call, our composed policy, cockatiel's equivalent pipeline and opossum's `fire()`, measured in one
 * run, pinned to one core. The cases alternate round-robin over interleaved rounds (mitata measures each case
 * for a slice of CPU time per round); ratios are taken per round, so noise that hits both sides cancels. The
 * rounds run in 5 replications, each a fresh process, so that one process's level is not the run's.
 * Prints each figure's median with its 95 % interval and IQR, the goals judged against the interval, then
 * one JSON line. `-- --check` exits 1 when a goal is missed with confidence; `-- --record` appends to
 * docs/benchmarks.md.
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
import { fileURLToPath } from 'node:url';
import {
  BenchReport,
  benchFlagsOrExit,
  canCollectGarbage,
  replicatedRounds,
  replicationSizes,
  pinToOneCore,
} from '@nova/bench-kit';
import { measure } from 'mitata';
import CircuitBreaker from 'opossum';
import { adaptiveConcurrency, bulkhead, circuitBreaker, compose, hedge, retry, timeout } from '../src/index.ts';

const CPU_MS = Number(process.env.BENCH_CPU_MS ?? 150);

const ok = async (): Promise<number> => 1;
const noop = (): void => {};

// Ours: timeout + retry + breaker + bulkhead, outermost first.
const ourBreaker = circuitBreaker({ minimumVolume: 5 });
const ours = compose(timeout(1000), retry({ maxAttempts: 3 }), ourBreaker, bulkhead(100, 0));
const ourOpenBreaker = circuitBreaker();
ourOpenBreaker.isolate();
const oursOpen = compose(timeout(1000), retry({ maxAttempts: 3 }), ourOpenBreaker, bulkhead(100, 0));

// The same pipeline with a hedge outermost (idle: its delay is never reached) and with an adaptive limit.
const hedgedBreaker = circuitBreaker({ minimumVolume: 5 });
const hedged = compose(
  hedge({ delayMs: 1000 }),
  timeout(1000),
  retry({ maxAttempts: 3 }),
  hedgedBreaker,
  bulkhead(100, 0),
);
const limitedBreaker = circuitBreaker({ minimumVolume: 5 });
const limited = compose(
  timeout(1000),
  retry({ maxAttempts: 3 }),
  limitedBreaker,
  adaptiveConcurrency({ initialLimit: 100 }),
  bulkhead(100, 0),
);

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
  composedHedged: () => hedged.execute(ok),
  composedLimited: () => limited.execute(ok),
  composedOpen: () => oursOpen.execute(ok).catch(noop),
  cockatielOpen: () => cockatielOpen.execute(ok).catch(noop),
  opossumOpen: () => opossumOpen.fire().catch(noop),
};

const labels: Record<string, string> = {
  bare: 'bare async call',
  composed: 'ours: timeout+retry+breaker+bulkhead',
  cockatiel: 'cockatiel wrap(timeout,retry,breaker,bulkhead)',
  opossum: 'opossum fire() (defaults)',
  composedHedged: 'ours + hedge (idle)',
  composedLimited: 'ours + adaptive concurrency',
  composedOpen: 'ours: open breaker fast-fail',
  cockatielOpen: 'cockatiel: open breaker fast-fail',
  opossumOpen: 'opossum: open breaker fast-fail',
};

const measures = Object.fromEntries(
  Object.entries(cases).map(([name, fn]) => [
    name,
    async () => (await measure(fn, { batch_threshold: Infinity, min_cpu_time: CPU_MS * 1e6 })).p50,
  ]),
);

const flags = benchFlagsOrExit();
const ROUNDS = flags.rounds ?? Number(process.env.BENCH_ROUNDS ?? 15);
const REPLICATIONS = replicationSizes(ROUNDS);
const report = new BenchReport('resilience', flags, { batches: REPLICATIONS.length });
report.note(pinToOneCore());
report.note(
  `${REPLICATIONS.length} replications of ${REPLICATIONS.join('/')} interleaved rounds, each in a fresh process after 1 warm-up round; ${CPU_MS} ms of CPU per case per round (mitata); figure per round: p50 ns/call`,
);
report.note(canCollectGarbage() ? 'full GC before each case' : 'no GC between cases (run with --expose-gc)');
report.note(
  "ratios computed per round, then summarized; interval: 95 % percentile bootstrap of the median; the next-run interval's batches are the replications",
);
const rounds = await replicatedRounds(measures, { sizes: REPLICATIONS, script: fileURLToPath(import.meta.url) });
for (const name of Object.keys(cases)) report.figure(name, labels[name]!, 'ns/call', rounds[name]!);
report.ratio('composed_over_cockatiel', 'composed / cockatiel', 'composed', 'cockatiel');
report.ratio('composed_over_opossum', 'composed / opossum fire()', 'composed', 'opossum');
report.ratio('composedOpen_over_cockatielOpen', 'open fast-fail / cockatiel', 'composedOpen', 'cockatielOpen');
report.ratio('composedOpen_over_opossumOpen', 'open fast-fail / opossum', 'composedOpen', 'opossumOpen');
report.difference('hedge_added', 'what an idle hedge adds', 'composedHedged', 'composed');
report.difference('limit_added', 'what the adaptive limit adds', 'composedLimited', 'composed');
report.goal({ figure: 'composed', op: '<=', target: 900, source: 'issue 17' });
report.goal({ figure: 'hedge_added', op: '<=', target: 300, source: 'issue 17' });
report.goal({ figure: 'limit_added', op: '<=', target: 300, source: 'issue 17' });
report.goal({ figure: 'composed_over_cockatiel', op: '<=', target: 0.1, source: 'issue 17' });
report.goal({ figure: 'composedOpen_over_opossumOpen', op: '<=', target: 0.5, source: 'issue 17' });
ourBreaker.dispose();
hedgedBreaker.dispose();
limitedBreaker.dispose();
ourOpenBreaker.dispose();
opossum.shutdown();
opossumOpen.shutdown();
process.exitCode = report.finish().exitCode;
