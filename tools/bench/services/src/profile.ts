/**
 * `npx nx profile services [-- --telemetry on|metrics|off] [--seconds N] [--top N] [--interval µs]`: where a
 * service's CPU goes under the benchmark's load. Starts the local stack with every service under
 * `node --cpu-prof` (a sample every `--interval` µs, default 200), drives `GET /users/:id` and/or
 * `POST /messages` (`--route get|post|both`; autocannon on loopback, bounded in time), stops the stack so each
 * service writes its profile, and prints per service its CPU time per request, the top frames by self time,
 * telemetry's inclusive share (its code and what that code calls) and the self time grouped by package.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startStack } from '@nova/stack';
import { prepareRoutes } from './routes.ts';
import { timeInside, topFrames, type Classify, type CpuProfile } from './cpu-profile.ts';

const USAGE =
  'usage: npx nx profile services -- [--telemetry on|metrics|off] [--route get|post|both] [--seconds 1–60] ' +
  '[--top N] [--interval 50–10000]';

/** Bad input: says what is wrong and how to call it, exits 2, no stack trace. */
function fail(message: string): never {
  console.error(`profile: ${message}\n${USAGE}`);
  process.exit(2);
}

function readOptions() {
  try {
    return parseArgs({
      options: {
        telemetry: { type: 'string', default: 'on' },
        seconds: { type: 'string', default: '5' },
        top: { type: 'string', default: '12' },
        route: { type: 'string', default: 'both' },
        interval: { type: 'string', default: '200' },
      },
    }).values;
  } catch (err) {
    return fail((err as Error).message);
  }
}

const values = readOptions();
const seconds = Number(values.seconds);
const top = Number(values.top);
if (!['on', 'metrics', 'off'].includes(values.telemetry))
  fail(`--telemetry must be on, metrics or off, got ${values.telemetry}`);
if (!['get', 'post', 'both'].includes(values.route)) fail(`--route must be get, post or both, got ${values.route}`);
if (!(seconds > 0 && seconds <= 60)) fail(`--seconds must be within 1–60, got ${values.seconds}`);
if (!(Number.isInteger(top) && top >= 1)) fail(`--top must be a whole number ≥ 1, got ${values.top}`);
const interval = Number(values.interval);
if (!(Number.isInteger(interval) && interval >= 50 && interval <= 10_000))
  fail(`--interval (µs between samples) must be an integer within 50–10000, got ${values.interval}`);

/**
 * Telemetry's code: our telemetry library, the OpenTelemetry SDK, prom-client and service-kit's request hooks.
 * pino and fastify's logger factory are not: the request logger is made per request with telemetry on or off
 * (a hook of ours wraps the factory). Nor is fastify's hook runner: a hook's `done()` runs the next hook, which
 * would otherwise be charged to ours.
 */
const telemetry: Classify = (url) =>
  /\/libs\/telemetry\/|\/@opentelemetry\/|\/prom-client\/|service-kit\/src\/request-tracing\.ts$/.test(url)
    ? 'ours'
    : /\/pino\/|\/fastify\/lib\/(logger-factory|hooks)\.js$/.test(url)
      ? 'theirs'
      : undefined;

const dir = mkdtempSync(join(tmpdir(), 'nova-profile-'));
const stack = await startStack({
  env: { TELEMETRY: values.telemetry, LOG_LEVEL: 'error' },
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${interval}`],
});
let requests = 0;
let loadStart = 0;
let loadEnd = 0;
try {
  const routes = await prepareRoutes(stack, 'profile');
  loadStart = performance.now();
  const chosen =
    values.route === 'get'
      ? [routes.getUser]
      : values.route === 'post'
        ? [routes.postMessage]
        : [routes.getUser, routes.postMessage];
  for (const opts of chosen)
    requests += (await autocannon({ connections: 10, duration: seconds, ...opts })).requests.total;
  loadEnd = performance.now();
} finally {
  await stack.stop();
}
// Profiles end when each service exits, just after `stop()` returns: keep only the samples of the load.
const stopped = performance.now();
const window = { fromEndUs: (stopped - loadStart) * 1000, toEndUs: (stopped - loadEnd) * 1000 };

console.log(
  `CPU profiles (telemetry ${values.telemetry}, ${seconds} s per route, load phase only) in ${dir}; top ${top} by self time:`,
);
// File names are CPU.<date>.<time>.<pid>.<thread>.<seq>: thread 0 is the main thread (the rest are tsx's loader).
for (const file of readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const frames = topFrames(profile, top, window);
  const busy = frames.totalMs - (frames.idleMs ?? 0);
  console.log(
    `\n${file}: ${Math.round(frames.totalMs)} ms sampled, ${Math.round(busy)} ms busy, ${Math.round((busy * 1000) / requests)} µs CPU per request served (${requests})`,
  );
  for (const f of frames.frames) {
    console.log(
      `  ${((100 * f.selfMs) / busy).toFixed(1).padStart(5)} %  ${f.name.padEnd(40).slice(0, 40)}  ${f.where}`,
    );
  }
  const inside = timeInside(profile, telemetry, window);
  console.log(
    `  telemetry, inclusive (libs/telemetry, @opentelemetry, prom-client, service-kit's request hooks): ${((100 * inside) / busy).toFixed(1)} % of busy time, ${((inside * 1000) / requests).toFixed(1)} µs per request`,
  );
  console.log('  by package (share of busy time):');
  for (const p of frames.packages.slice(0, 8))
    console.log(`  ${((100 * p.selfMs) / busy).toFixed(1).padStart(5)} %  ${p.name}`);
}
