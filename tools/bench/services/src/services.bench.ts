/**
 * `npx nx bench services`: throughput and p99 of `GET /users/:id` and `POST /messages` on the real local
 * stack, with telemetry (metrics + tracing) on and off, in one run. Load: autocannon on loopback, bounded
 * in time (BENCH_SECONDS per case, default 5) with 10 connections. Last line: one JSON object.
 */
import autocannon from 'autocannon';
import { request } from 'undici';
import { startStack, type Stack } from '@nova/stack';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);

async function json(method: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const res = await request(url, {
    method: method as 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${text}`);
  return JSON.parse(text);
}

interface Figures {
  rps: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

async function load(opts: autocannon.Options): Promise<Figures> {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts });
  return {
    rps: Math.round(result.requests.average),
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function measure(telemetry: boolean): Promise<{ getUser: Figures; postMessage: Figures }> {
  let stack: Stack | undefined;
  try {
    stack = await startStack({ env: { TELEMETRY: telemetry ? 'on' : 'off', LOG_LEVEL: 'error' } });
    const [user] = stack.urls('user');
    const [auth] = stack.urls('auth');
    const [messaging] = stack.urls('messaging');
    const ada = await json('POST', `${user}/users`, { email: 'ada@example.com', name: 'Ada', password: 'correct horse' });
    const bob = await json('POST', `${user}/users`, { email: 'bob@example.com', name: 'Bob', password: 'correct horse' });
    const { token } = await json('POST', `${auth}/auth/login`, { email: 'ada@example.com', password: 'correct horse' });
    // Warm up both paths (JIT, pools, breakers) before measuring.
    await load({ url: `${user}/users/${ada['id']}`, duration: 1 });
    const getUser = await load({ url: `${user}/users/${ada['id']}` });
    const postMessage = await load({
      url: `${messaging}/messages`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ to: bob['id'], text: 'benchmark message' }),
    });
    return { getUser, postMessage };
  } finally {
    await stack?.stop();
  }
}

const on = await measure(true);
const off = await measure(false);
const row = (name: string, f: Figures): string =>
  `${name.padEnd(40)}${String(f.rps).padStart(8)} req/s   p99 ${String(f.p99Ms).padStart(4)} ms   errors ${f.errors + f.non2xx}`;
console.log(`services benchmark: ${SECONDS} s per case, ${CONNECTIONS} connections, loopback, Node ${process.version}`);
console.log(row('GET /users/:id, telemetry on', on.getUser));
console.log(row('GET /users/:id, telemetry off', off.getUser));
console.log(row('POST /messages, telemetry on', on.postMessage));
console.log(row('POST /messages, telemetry off', off.postMessage));
const ratio = (a: number, b: number): number => +(a / b).toFixed(3);
console.log(
  JSON.stringify({
    bench: 'services',
    seconds: SECONDS,
    connections: CONNECTIONS,
    telemetryOn: on,
    telemetryOff: off,
    ratios: {
      getUser_rps_on_over_off: ratio(on.getUser.rps, off.getUser.rps),
      postMessage_rps_on_over_off: ratio(on.postMessage.rps, off.postMessage.rps),
    },
  }),
);
