/**
 * `npx nx bench faults`, in one run:
 *  1. fastify req/s of a route that calls an upstream through undici, with the faults plugin and interceptor
 *     loaded but no fault active, against the same app without them (ABAB, median of two 4 s runs each);
 *  2. the latency of ApplyFault and RecoverFault against a real agent process, and the time from each call
 *     returning to the fault being active / gone in the service;
 *  3. ApplyFault throughput with 200 registered targets.
 * Everything runs on loopback. Last line: one JSON object with the figures.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bearer, createAgentClient, unary } from '@nova/proto';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { AgentConnection, FaultRuntime, inboundFaults, outboundFaults } from '../src/index.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const TOKEN = 'bench-token-0123456789';
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------- 1. overhead with no active fault ----------
const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

async function app(withFaults: boolean): Promise<{ app: FastifyInstance; url: string; close(): Promise<void> }> {
  const runtime = new FaultRuntime();
  const a = Fastify();
  const agent = new Agent();
  const dispatcher = withFaults ? agent.compose(outboundFaults(runtime, { upstream: 'up' })) : agent;
  if (withFaults) await a.register(inboundFaults, { runtime });
  a.get('/x', async () => {
    const res = await request(`${upstreamUrl}/`, { dispatcher });
    return res.body.json();
  });
  await a.listen({ port: 0, host: '127.0.0.1' });
  return { app: a, url: `http://127.0.0.1:${(a.server.address() as AddressInfo).port}/x`, close: async () => { await a.close(); await agent.close(); } };
}

async function rps(url: string): Promise<number> {
  const r = await autocannon({ url, connections: 10, duration: SECONDS });
  return r.requests.average;
}

const runs: Record<'with' | 'without', number[]> = { with: [], without: [] };
for (const order of [['without', 'with'], ['with', 'without']] as const) {
  for (const variant of order) {
    const a = await app(variant === 'with');
    await autocannon({ url: a.url, connections: 10, duration: 1 }); // warm-up
    runs[variant].push(await rps(a.url));
    await a.close();
  }
}
const overhead = { withFaults: Math.round(median(runs.with)), without: Math.round(median(runs.without)) };

// ---------- 2 & 3. control latency against a real agent process ----------
const dir = mkdtempSync(join(tmpdir(), 'nova-bench-'));
writeFileSync(join(dir, 'token'), TOKEN);
const main = fileURLToPath(new URL('../../../chaos-agent/src/main.ts', import.meta.url));
const agentProc = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', main, '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token')], {
  env: { ...process.env, LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const address = await new Promise<string>((resolve, reject) => {
  let out = '';
  agentProc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    const m = /"address":"([^"]+)"/.exec(out);
    if (m) resolve(m[1]!);
  });
  agentProc.once('exit', (code) => reject(new Error(`agent exited with ${code}`)));
});
const md = bearer(TOKEN);
const client = createAgentClient(address);

/** One registered in-process target: fastify + runtime + control stream. */
async function target(i: number): Promise<{ runtime: FaultRuntime; app: FastifyInstance; conn: AgentConnection }> {
  const runtime = new FaultRuntime();
  const a = Fastify();
  await a.register(inboundFaults, { runtime });
  a.get('/ping', async () => 'pong');
  await a.ready();
  const conn = new AgentConnection({ address, token: TOKEN, runtime, hello: { name: `t${i}`, namespace: 'bench', labels: {}, pid: process.pid, ports: [] } });
  conn.start();
  return { runtime, app: a, conn };
}

const one = await target(0);
const listTargets = (): Promise<{ targets: Array<{ id: string; name: string }> }> => unary(client.listTargets.bind(client), {}, md);
const waitTargets = async (n: number): Promise<void> => {
  while ((await listTargets()).targets.length < n) await new Promise((r) => setTimeout(r, 20));
};
await waitTargets(1);
const t0 = (await listTargets()).targets[0]!.id;
const applyMs: number[] = [];
const activeAfterMs: number[] = [];
const recoverMs: number[] = [];
const goneAfterMs: number[] = [];
const isFaulted = async (): Promise<boolean> => (await one.app.inject('/ping')).statusCode === 503;
for (let i = 0; i < 50; i++) {
  const uid = `lat-${i}`;
  let t = performance.now();
  await unary(client.applyFault.bind(client), { experimentUid: uid, targetId: t0, kind: 'http-error', specJson: '{"status":503}', durationMs: 60_000 }, md);
  const returned = performance.now();
  applyMs.push(returned - t);
  while (!(await isFaulted())) await new Promise((r) => setImmediate(r));
  activeAfterMs.push(performance.now() - returned);
  t = performance.now();
  await unary(client.recoverFault.bind(client), { experimentUid: uid }, md);
  const recovered = performance.now();
  recoverMs.push(recovered - t);
  while (await isFaulted()) await new Promise((r) => setImmediate(r));
  goneAfterMs.push(performance.now() - recovered);
}

const many = [one];
for (let i = 1; i < 200; i++) many.push(await target(i));
await waitTargets(200);
const ids = (await listTargets()).targets.map((t) => t.id);
let start = performance.now();
await Promise.all(ids.map((id) => unary(client.applyFault.bind(client), { experimentUid: 'many', targetId: id, kind: 'http-delay', specJson: '{"latencyMs":1}', durationMs: 60_000 }, md)));
const applySeconds = (performance.now() - start) / 1000;
start = performance.now();
await unary(client.recoverFault.bind(client), { experimentUid: 'many' }, md, 30_000);
const recoverSeconds = (performance.now() - start) / 1000;
const stillActive = many.reduce((n, t) => n + t.runtime.size, 0);

for (const t of many) await t.conn.stop();
client.close();
agentProc.kill('SIGTERM');
upstream.close();

const r2 = (x: number): number => Math.round(x * 1000) / 1000;
const result = {
  bench: 'faults',
  node: process.version,
  rps: { ...overhead, ratio: r2(overhead.withFaults / overhead.without) },
  control: {
    applyRoundTripMsMedian: r2(median(applyMs)),
    activeAfterApplyReturnsMsMedian: r2(median(activeAfterMs)),
    recoverRoundTripMsMedian: r2(median(recoverMs)),
    goneAfterRecoverReturnsMsMedian: r2(median(goneAfterMs)),
  },
  targets200: { appliesPerSecond: Math.round(200 / applySeconds), recoverAllSeconds: r2(recoverSeconds), stillActiveAfterRecover: stillActive },
};
console.log(`faults benchmark: Node ${process.version}, loopback`);
console.log(`route calling an upstream, no fault active: ${overhead.withFaults} req/s with plugin+interceptor vs ${overhead.without} without (ratio ${result.rps.ratio}; goal >= 0.97)`);
console.log(`ApplyFault round trip (service acknowledged) median ${result.control.applyRoundTripMsMedian} ms; active in the service ${result.control.activeAfterApplyReturnsMsMedian} ms after it returned`);
console.log(`RecoverFault round trip median ${result.control.recoverRoundTripMsMedian} ms; gone ${result.control.goneAfterRecoverReturnsMsMedian} ms after it returned (goal < 5 ms each)`);
console.log(`200 targets: ${result.targets200.appliesPerSecond} applies/s; recover of all 200 in ${result.targets200.recoverAllSeconds} s; ${stillActive} left active`);
console.log(JSON.stringify(result));
process.exit(0);
