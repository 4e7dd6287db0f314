/**
 * `npx nx bench services`: the cost of telemetry on the real local stack. One embedded PostgreSQL and five
 * stacks (auth, user, messaging) side by side, one per telemetry configuration:
 *   off      – no metrics, no tracing (the baseline);
 *   metrics  – prom-client RED metrics only;
 *   default  – metrics + parent-based ratio-sampled tracing (what the services run with);
 *   full     – metrics + tracing of every request.
 * plus a second `off` stack as an A/A control. The rounds run in replications: each a fresh set of five stacks
 * (new processes), warmed up by a number of requests on each route. In each round, for each route (`GET /users/:id`,
 * `POST /messages`), the five stacks are loaded at the same moment with identical autocannon load (loopback,
 * bounded in time), as fast as they answer; throughput and the services' CPU per request are ratioed to `off` per
 * round. The traced stacks export their spans to a loopback OTLP collector
 * stand-in, as they would in production, and the spans it received are reported. Prints medians with 95 % intervals; `-- --check` exits 1 when a goal is missed with
 * confidence; `-- --record` appends the run to docs/benchmarks.md. Last line: one JSON object.
 */
import { setTimeout } from 'node:timers/promises';
import autocannon from 'autocannon';
import { BenchReport, replicationSizes, benchFlagsOrExit, totalCpuMs } from '@nova/bench-kit';
import { startLocalPostgres } from '@nova/local-postgres';
import { startStack, type Stack } from '@nova/stack';
import { startOtlpCollector } from '@nova/telemetry/testing';
import { prepareRoutes, type Routes as Target } from './routes.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);
/**
 * Requests each fresh stack serves on each route before its measured rounds. A fresh stack loaded alone on this
 * VM (2026-12-04) climbed from 430 to ~1,380 POST/s over its first ~5,000 POSTs and from 3,400 to ~10,000 GET/s
 * over its first ~20,000 GETs, then held: V8 optimizes a function after enough calls, so warm-up is counted in
 * requests, not seconds. One discarded round (3 s at a fifth of the machine each) gave a stack ~1,000 POSTs, and
 * its POST throughput was still climbing through the measured rounds.
 */
const WARMUP = {
  getUser: Number(process.env['BENCH_WARMUP_GETS'] ?? 20_000),
  postMessage: Number(process.env['BENCH_WARMUP_POSTS'] ?? 6_000),
};
/**
 * The warm-up is served twice, with the traced stacks' first export between the two. A process's first outgoing
 * HTTP request (the exporter's post; node:http and undici alike) deoptimizes socket and stream code it shares
 * with the server, and V8 takes many calls to optimize it again: measured 2026-12-05 in one process
 * (`telemetry-cost`), one such request added ~4 µs to each of the next 30,000 requests (+24 %) and nothing once
 * 60,000 more had been served. Measured right after it, the traced stacks were charged that transient as if it
 * were their steady cost, and the untraced ones, never exporting, did not pay it.
 */
const WARMUP_PASSES = 2;
/** How long the stacks are left idle between the passes: the batch processor's schedule delay (5 s) and a margin. */
const EXPORT_WAIT_MS = 6_000;

/**
 * Telemetry configurations, as the environment each stack's services get. `control` is a second `off` stack:
 * its ratio to `off` (an A/A comparison) shows how far this machine's noise alone moves a ratio.
 */
const MODES = {
  off: { TELEMETRY: 'off' },
  control: { TELEMETRY: 'off' },
  metrics: { TELEMETRY: 'metrics' },
  default: { TELEMETRY: 'on' },
  full: { TELEMETRY: 'on', OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
} as const;
type Mode = keyof typeof MODES;
const COMPARED = ['control', 'metrics', 'default', 'full'] as const;
/** The configurations that trace, and so export spans (to the benchmark's loopback OTLP sink). */
const TRACED: readonly Mode[] = ['default', 'full'];
const ROUTES = [
  ['getUser', 'GET /users/:id'],
  ['postMessage', 'POST /messages'],
] as const;

let failures = 0;
let requests = 0;

/** One stack under load: its route's autocannon options and the pids whose CPU time it is charged. */
interface Loaded {
  opts: autocannon.Options;
  pids: readonly number[];
}

/**
 * Loads every stack at the same moment, as fast as it answers (each with its own autocannon, same connections
 * and window), and resolves, per stack, to its throughput (req/s), the requests it served and its services' CPU
 * time over the window (ms). Loaded together, every configuration meets the same moment of this shared VM and
 * the same history (every stack is warm, or cold, alike): loaded one after the other, a stack that had just been
 * idle paid for it, and the A/A control read 0.74–1.27.
 */
async function loadTogether(stacks: readonly Loaded[]): Promise<{ rps: number; requests: number; cpuMs: number }[]> {
  const before = stacks.map((s) => totalCpuMs(s.pids));
  const results = await Promise.all(
    stacks.map((s) => autocannon({ connections: CONNECTIONS, duration: SECONDS, ...s.opts })),
  );
  return results.map((r, i) => {
    failures += r.errors + r.timeouts + r.non2xx;
    requests += r.requests.total;
    const cpuMs = totalCpuMs(stacks[i]!.pids) - before[i]!;
    const served = Math.max(1, r.requests.total);
    return { rps: r.requests.average, requests: served, cpuMs };
  });
}

const flags = benchFlagsOrExit();
/**
 * Rounds per run. A ratio's rounds scatter widely here (per-round sd 0.10–0.37 over the five-run sets of
 * 2026-12-05, against 0–0.13 between fresh sets of stacks): five stacks of three processes share two cores for
 * 3 s, and which of them the scheduler favours in a window is luck. A run's median is steadied by more rounds,
 * not by more replications; 35 rounds of both routes take about as long as 15 did when each round also
 * measured a fixed rate (see the history in docs/benchmarks.md).
 */
const ROUNDS = flags.rounds ?? Number(process.env['BENCH_ROUNDS'] ?? 35);
/**
 * The rounds of each replication: a fresh set of the five stacks, warmed up, then measured. With one set per
 * run, a run's figures carried its processes' own levels: over five runs of 2026-12-04, POST default / off read
 * 0.716 in one and 0.92–1.06 in the others, outside every other run's interval. Several sets per run, each a
 * batch of the next-run interval, put that set-to-set spread inside one run's interval and average it out of
 * the median (independent replications, Law & Kelton ch. 9), as the faults benchmark does.
 */
const REPLICATIONS = replicationSizes(ROUNDS);
const report = new BenchReport('services', flags, { batches: REPLICATIONS.length });
report.note(
  'one embedded PostgreSQL 17, five stacks up at once (telemetry off / off again as an A/A control / metrics / default / full)',
);
report.note(
  `${REPLICATIONS.length} replications of ${REPLICATIONS.join('/')} rounds, each a fresh set of the five stacks (started in a rotating order), warmed up by ${WARMUP_PASSES} passes of ${WARMUP.getUser.toLocaleString('en-US')} GETs and ${WARMUP.postMessage.toLocaleString('en-US')} POSTs each (all five loaded at once, discarded; ${EXPORT_WAIT_MS / 1000} s idle between the passes so that the traced stacks' first export, and the reoptimization after it, fall inside the warm-up); in each round, for each route, the five stacks are loaded at the same moment for ${SECONDS} s as fast as they answer (${CONNECTIONS} connections each, one autocannon per stack, the start order rotating each round); ratios to off taken per round; the next-run interval's batches are the replications`,
);
report.note(
  'load generator: autocannon in the bench process, identical for every stack and running for all of them at once, so its cost is held constant and cancels in the per-round ratio',
);
report.note(
  "capacity: the services' CPU time per request (every thread's /proc/<pid>/task/<tid>/schedstat, PostgreSQL excluded) off / on, per round: the throughput ratio a CPU-bound service would see",
);

// Not pinned: the system under test is PostgreSQL and five stacks of three processes. Pinned to core 0
// with autocannon on core 1, its figures fell by half and the A/A control scattered twice as wide (measured
// 2026-12-03), so every process may use both cores.
const postgres = await startLocalPostgres({});
// Where the traced stacks export their spans: what a collector costs its senders (encoding, posting) is paid
// as in production; the sink's own CPU, like a collector's on another machine, is not charged to the services.
const sink = await startOtlpCollector({ keep: false });
/** Requests each configuration's stack served over the run, warm-up included (for spans per request). */
const served = {} as Record<Mode, number>;
let stacks: Stack[] = [];
/** Stops the current set of stacks (all of them, even when one fails to stop). */
async function stopStacks(): Promise<void> {
  const stopping = stacks;
  stacks = [];
  await Promise.allSettled(stopping.map((s) => s.stop()));
}
try {
  const modes = Object.keys(MODES) as Mode[];
  const databases = {} as Record<Mode, string>;
  for (const mode of modes) databases[mode] = await postgres.createDatabase(`bench_${mode}`);
  /** A fresh set of the five stacks, started in an order that rotates per replication (no mode always oldest). */
  async function startStacks(replication: number) {
    const targets = {} as Record<Mode, Target>;
    const pids = {} as Record<Mode, number[]>;
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[(k + replication) % modes.length]!;
      const exporting: Record<string, string> = TRACED.includes(mode)
        ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint(mode) }
        : {};
      const stack = await startStack({
        databaseUrl: databases[mode],
        env: { ...MODES[mode], ...exporting, LOG_LEVEL: 'error' },
      });
      stacks.push(stack);
      targets[mode] = await prepareRoutes(stack, `${mode}-r${replication}`);
      pids[mode] = stack.instances.map((i) => i.process.pid!);
    }
    return { targets, pids };
  }
  const series: Record<string, number[]> = {};
  const push = (name: string, value: number) => (series[name] ??= []).push(value);
  let measured = 0;
  for (const [replication, rounds] of REPLICATIONS.entries()) {
    const { targets, pids } = await startStacks(replication);
    for (let pass = 0; pass < WARMUP_PASSES; pass++) {
      // Every process that sampled a span in the pass before has exported it by the end of this wait.
      if (pass > 0) await setTimeout(EXPORT_WAIT_MS);
      for (const [route] of ROUTES) {
        const warm = modes.map((m) =>
          autocannon({ connections: CONNECTIONS, amount: WARMUP[route], ...targets[m][route] }),
        );
        (await Promise.all(warm)).forEach((r, i) => {
          failures += r.errors + r.timeouts + r.non2xx;
          requests += r.requests.total;
          served[modes[i]!] = (served[modes[i]!] ?? 0) + r.requests.total;
        });
      }
    }
    for (let round = 0; round < rounds; round++) {
      // Rotate which stack's load starts first: autocannon instances start a few ms apart.
      const order = modes.map((_, i) => modes[(i + measured) % modes.length]!);
      for (const [route] of ROUTES) {
        const loaded = order.map((m) => ({ opts: targets[m][route], pids: pids[m] }));
        const sat = await loadTogether(loaded);
        order.forEach((mode, i) => {
          push(`${route}_${mode}`, sat[i]!.rps);
          push(`${route}_${mode}_cpu`, (sat[i]!.cpuMs * 1000) / sat[i]!.requests);
          served[mode] = (served[mode] ?? 0) + sat[i]!.requests;
        });
      }
      process.stderr.write(`replication ${replication + 1}/${REPLICATIONS.length}, round ${++measured}/${ROUNDS}\n`);
    }
    await stopStacks();
  }
  for (const [route, label] of ROUTES) {
    for (const mode of modes) {
      report.figure(`${route}_${mode}`, `${label}, telemetry ${mode}`, 'req/s', series[`${route}_${mode}`]!);
      report.figure(
        `${route}_${mode}_cpu`,
        `${label}, telemetry ${mode}, services' CPU per request`,
        'µs',
        series[`${route}_${mode}_cpu`]!,
      );
    }
    for (const mode of COMPARED) {
      report.ratio(
        `${route}_${mode}_over_off`,
        `${label}: ${mode} / off, throughput`,
        `${route}_${mode}`,
        `${route}_off`,
      );
      // Capacity: CPU per request off / on, the throughput ratio a CPU-bound service would see.
      report.ratio(
        `${route}_${mode}_capacity`,
        `${label}: ${mode} / off, capacity (CPU per request off / ${mode})`,
        `${route}_off_cpu`,
        `${route}_${mode}_cpu`,
      );
    }
    for (const kind of ['over_off', 'capacity'] as const) {
      report.goal({ figure: `${route}_default_${kind}`, op: '>=', target: 0.9, source: 'issue 22' });
      report.goal({ figure: `${route}_full_${kind}`, op: '>=', target: 0.8, source: 'issue 22' });
    }
  }
  // A few timeouts can happen when two stacks saturate the CPU; more than 1 % means the figures are not
  // of a working system.
  report.note(`failed or non-2xx responses during the run: ${failures} of ${requests}`);
  // Evidence that tracing took effect: a traced stack that exported nothing measured no tracing at all.
  let silent = 0;
  for (const mode of TRACED) {
    const got = sink.received(mode);
    if (got.spans === 0) silent++;
    report.note(
      `spans exported by ${mode} to the loopback OTLP sink: ${got.spans.toLocaleString('en-US')} in ${got.posts} posts (${(got.bytes / 1e6).toFixed(1)} MB, protobuf), ${(got.spans / Math.max(1, served[mode] ?? 0)).toFixed(3)} per request served (a sampled POST is three spans: messaging, auth, user)`,
    );
  }
  process.exitCode = report.finish().exitCode || (failures > requests / 100 || silent > 0 ? 1 : 0);
} finally {
  await stopStacks();
  await postgres.stop();
  await sink.close();
}
