/**
 * The system under test of the faults benchmark's dormant-overhead figure, run as its own process so the
 * load generator never shares its event loop: an upstream, and two fastify apps whose route calls it through
 * undici, one with the faults plugin + interceptor loaded (no fault active) and one without. Prints
 * `{"with": url, "without": url}` on one line, then serves until stdin closes or SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { FaultRuntime, inboundFaults, outboundFaults } from '../src/index.ts';

const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

async function app(withFaults: boolean): Promise<string> {
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
  return `http://127.0.0.1:${(a.server.address() as AddressInfo).port}/x`;
}

console.log(JSON.stringify({ with: await app(true), without: await app(false) }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
