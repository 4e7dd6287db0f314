import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultDispatcher } from './fault-dispatcher.ts';
import { FaultRuntime } from './runtime.ts';

/** An Agent that records the handler of every request it is given. */
class RecordingAgent extends Agent {
  readonly handlers: Dispatcher.DispatchHandler[] = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.handlers.push(handler);
    return super.dispatch(options, handler);
  }
}

const runtime = new FaultRuntime();
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await runtime.recoverAll();
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('FaultDispatcher', () => {
  it('hands a request to the agent untouched while no fault is active, and through the faults while one is', async () => {
    const agent = new RecordingAgent();
    const d = new FaultDispatcher(agent, runtime, { upstream: 'user-service' });
    const direct = await request(`${origin}/a`, { dispatcher: d });
    expect(direct.statusCode).toBe(200);
    await direct.body.dump();
    // The agent got the caller's own handler: no adapter of compose() in between.
    const [first] = agent.handlers;
    expect(first?.constructor.name).toBe('RequestHandler');

    await runtime.apply('d', 'net-delay', { latencyMs: 80, target: 'user-service' }, 60_000);
    const t = performance.now();
    const delayed = await request(`${origin}/b`, { dispatcher: d });
    expect(performance.now() - t).toBeGreaterThanOrEqual(75);
    await delayed.body.dump();
    expect(agent.handlers[1]?.constructor.name).not.toBe('RequestHandler');

    await runtime.recover('d');
    await runtime.apply('e', 'net-error', { status: 503, target: 'user-service' }, 60_000);
    const failed = await request(`${origin}/c`, { dispatcher: d });
    expect(failed.statusCode).toBe(503);
    expect(failed.headers['x-chaos-fault']).toBe('e');
    await failed.body.dump();

    await runtime.recoverAll();
    const after = await request(`${origin}/d`, { dispatcher: d });
    expect(after.statusCode).toBe(200);
    await after.body.dump();
    expect(agent.handlers.at(-1)?.constructor.name).toBe('RequestHandler');
    await d.close();
  });

  it("a fault for another upstream leaves this one's calls alone", async () => {
    const d = new FaultDispatcher(new Agent(), runtime, { upstream: 'user-service' });
    await runtime.apply('other', 'net-error', { status: 500, target: 'auth-service' }, 60_000);
    const res = await request(`${origin}/x`, { dispatcher: d });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    await d.close();
  });

  it('close() and destroy() end the agent it owns, with a promise or a callback', async () => {
    const a = new Agent();
    const d = new FaultDispatcher(a, runtime);
    await d.close();
    expect(a.closed).toBe(true);
    await expect(request(`${origin}/x`, { dispatcher: d })).rejects.toThrow(/destroyed|closed/);

    const b = new Agent();
    const e = new FaultDispatcher(b, runtime);
    await new Promise<void>((r) => e.destroy(r));
    expect(b.destroyed).toBe(true);

    const c = new Agent();
    const f = new FaultDispatcher(c, runtime);
    await new Promise<void>((r) => f.close(r));
    expect(c.closed).toBe(true);
    const g = new Agent();
    await new FaultDispatcher(g, runtime).destroy(new Error('bye'));
    expect(g.destroyed).toBe(true);
  });
});
