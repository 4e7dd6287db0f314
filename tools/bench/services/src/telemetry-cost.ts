/**
 * `npx nx telemetry-cost services [-- --rounds N] [--requests N]`: what telemetry costs one service process per
 * request, in µs of CPU, without the crowding of the five-stack benchmark. One process at a time runs
 * `telemetry-cost-server.ts` (a service app with a trivial route) on core 0 and autocannon loads it from this
 * process on core 1 (10 connections, a warm-up of 20,000 requests, then `--requests` counted); its CPU per
 * request comes from every thread's schedstat (and, apart, that of the threads it started after it was ready: the
 * span export thread). A fresh process per configuration and round, the configurations in an order that rotates
 * each round; the traced ones export to a loopback OTLP sink, as in production.
 * Prints medians with intervals and each configuration's difference from `metrics`, in µs per request.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import {
  BenchReport,
  benchFlagsOrExit,
  interleave,
  pinToCore,
  processCpuMs,
  threadIds,
  threadsCpuMs,
} from '@nova/bench-kit';
import { freePort } from '@nova/process-kit';
import { startOtlpCollector } from '@nova/telemetry/testing';

const CONFIGS = {
  off: { TELEMETRY: 'off' },
  metrics: { TELEMETRY: 'metrics' },
  default: { TELEMETRY: 'on' },
  'default-exported': { TELEMETRY: 'on', EXPORT: '1' },
  'full-exported': { TELEMETRY: 'on', OTEL_TRACES_SAMPLER: 'parentbased_always_on', EXPORT: '1' },
} as const;
type Config = keyof typeof CONFIGS;

const flags = benchFlagsOrExit();
const ROUNDS = flags.rounds ?? 6;
const REQUESTS = Number(process.env['COST_REQUESTS'] ?? 30_000);
if (!Number.isInteger(REQUESTS) || REQUESTS < 1_000) {
  console.error(`telemetry-cost: COST_REQUESTS must be a whole number ≥ 1000, got ${process.env['COST_REQUESTS']}`);
  process.exit(2);
}
/**
 * Requests each process serves before the count: a first warm-up, then (after an exporting process's first post)
 * a second. Measured 2026-12-05 with `metrics` alone: 18.4 µs per request after 20,000 requests, ~15 after
 * 80,000; and one outgoing HTTP request (node:http or undici alike) after 20,000 added ~4 µs to each of the next
 * 30,000, and nothing once 60,000 more had been served. V8 reoptimizes what the first outgoing connection
 * deoptimized (socket and stream code shared by server and client) only after enough calls; counted before that,
 * the exporting configurations were charged a transient as if it were their steady cost.
 */
const WARMUP = [20_000, 60_000] as const;
const server = fileURLToPath(new URL('./telemetry-cost-server.ts', import.meta.url));

// The load generator (this process) on core 1, each service process on core 0 (pinned once started).
const pinned = pinToCore(1);
const sink = await startOtlpCollector({ keep: false });
const report = new BenchReport('telemetry-cost', flags);
report.note(
  `one service process at a time (createServiceApp, a trivial GET route), ${WARMUP.map((n) => n.toLocaleString('en-US')).join(' + ')} requests of warm-up, then ${REQUESTS.toLocaleString('en-US')} counted; 10 connections; CPU per request from every thread's schedstat; ${ROUNDS} rounds, the configurations' order rotating; traced configurations with "exported" post to a loopback OTLP sink, their first post made between the two warm-ups`,
);

/**
 * Per configuration, each round's CPU per request (µs) of the threads the process started after it was ready: the
 * span export thread where there is one (it starts with the first batch), else idle helpers (libuv's pool). It is
 * part of the process's figure too; apart, it tells the work the thread took off the service's thread from what
 * the service's thread still does.
 */
const laterThreads: Record<string, number[]> = {};

/** Starts one service process with `config`, loads it, and returns its CPU per request in µs. */
async function measure(config: Config): Promise<number> {
  const { EXPORT, ...env } = { EXPORT: undefined, ...CONFIGS[config] };
  const port = await freePort();
  const child = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', server], {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...(EXPORT ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint(config) } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (pinned) pinToCore(0, child.pid!);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`${config}: the service exited (${code}) before it was ready`)));
    });
    const readyThreads = new Set(threadIds(child.pid!));
    const url = `http://127.0.0.1:${port}/users/42`;
    await autocannon({ url, connections: 10, amount: WARMUP[0] });
    // An exporting process's first export (its HTTP connection, the exporter's code compiled, the deoptimization
    // it causes) is a one-time cost: let it happen before the second warm-up, as it would long before any steady
    // state in production. It comes when the batch fills or at the schedule delay (5 s); the sink counts posts.
    if (EXPORT) await firstPost(config);
    await autocannon({ url, connections: 10, amount: WARMUP[1] });
    const later = threadIds(child.pid!).filter((tid) => !readyThreads.has(tid));
    const before = processCpuMs(child.pid!);
    const laterBefore = threadsCpuMs(child.pid!, later);
    const result = await autocannon({ url, connections: 10, amount: REQUESTS });
    const cpuMs = processCpuMs(child.pid!) - before;
    const laterMs = threadsCpuMs(child.pid!, later) - laterBefore;
    if (result.non2xx + result.errors > 0)
      throw new Error(`${config}: ${result.non2xx + result.errors} failed requests`);
    (laterThreads[config] ??= []).push((laterMs * 1000) / result.requests.total);
    return (cpuMs * 1000) / result.requests.total;
  } finally {
    // Ours, by pid; waited for, so its spans are flushed and its port is free before the next.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/** Resolves once the sink has received a post from `config`'s process, or after 10 s (then the count includes it). */
async function firstPost(config: Config): Promise<void> {
  const posts = sink.received(config).posts;
  for (let waited = 0; waited < 10_000 && sink.received(config).posts === posts; waited += 100) await delay(100);
}

try {
  report.note(
    pinned
      ? 'each service process pinned to core 0, the load generator (this process) to core 1 (taskset -a)'
      : 'not pinned (needs Linux, 2+ cores and taskset from util-linux)',
  );
  const names = Object.keys(CONFIGS) as Config[];
  // No discarded round: each process is warmed up by requests before it is measured.
  const samples = await interleave(
    Object.fromEntries(names.map((c) => [c, () => measure(c)])) as Record<Config, () => Promise<number>>,
    { rounds: ROUNDS, warmup: 0, gc: false, onRound: (r) => process.stderr.write(`round ${r + 1}/${ROUNDS}\n`) },
  );
  for (const config of names) report.figure(config, `telemetry ${config}: CPU per request`, 'µs', samples[config]);
  for (const config of names)
    report.figure(
      `${config}_later_threads`,
      `telemetry ${config}: CPU per request of threads started after ready (the export thread, if any)`,
      'µs',
      laterThreads[config]!,
    );
  for (const config of names.filter((c) => c !== 'metrics' && c !== 'off'))
    report.difference(`${config}_minus_metrics`, `${config} − metrics, CPU per request`, config, 'metrics');
  report.difference('metrics_minus_off', 'metrics − off, CPU per request', 'metrics', 'off');
  for (const config of ['default-exported', 'full-exported'] as const) {
    const got = sink.received(config);
    report.note(`spans exported by ${config}: ${got.spans.toLocaleString('en-US')} in ${got.posts} posts`);
  }
  process.exitCode = report.finish().exitCode;
} finally {
  await sink.close();
}
