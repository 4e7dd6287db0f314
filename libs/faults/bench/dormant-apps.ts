/**
 * The system under test of the faults benchmark's dormant-overhead figure, one role per process so that each
 * one's CPU time can be read on its own and the load generator never shares an event loop with it:
 *   `upstream`                 an HTTP server answering `{"ok":true}`;
 *   `app with|without <url>`   a fastify app whose route calls that upstream through undici, with the faults
 *                              plugin + interceptor loaded (no fault active), or without them.
 * Prints the URL it serves on one line, then serves until stdin closes or SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { FaultDispatcher, FaultRuntime, inboundFaults } from '../src/index.ts';

async function upstream(): Promise<string> {
  const server = createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function app(withFaults: boolean, upstreamUrl: string): Promise<string> {
  const runtime = new FaultRuntime();
  const a = Fastify();
  const agent = new Agent();
  const dispatcher = withFaults ? new FaultDispatcher(agent, runtime, { upstream: 'up' }) : agent;
  if (withFaults) await a.register(inboundFaults, { runtime });
  a.get('/x', async () => {
    const res = await request(`${upstreamUrl}/`, { dispatcher });
    return res.body.json();
  });
  await a.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(a.server.address() as AddressInfo).port}/x`;
}

const [role, mode, upstreamUrl] = process.argv.slice(2);
if (role === 'upstream') console.log(await upstream());
else if (role === 'app' && (mode === 'with' || mode === 'without') && upstreamUrl)
  console.log(await app(mode === 'with', upstreamUrl));
else throw new Error('usage: dormant-apps.ts upstream | app with|without <upstream url>');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
