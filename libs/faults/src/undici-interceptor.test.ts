import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpClient, TimeoutError } from '@nova/resilience';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultRuntime } from './runtime.ts';
import { outboundFaults } from './undici-interceptor.ts';

const runtime = new FaultRuntime();
let server: Server;
let origin: string;
let hits = 0;
const agents: Agent[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/big') {
      res.end(Buffer.alloc(100_000, 'x'));
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await runtime.recoverAll();
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await new Promise((r) => server.close(r));
});

/** A dispatcher for the named upstream, with the fault interceptor composed in. */
function dispatcher(upstream: string) {
  const agent = new Agent();
  agents.push(agent);
  return agent.compose(outboundFaults(runtime, { upstream }));
}

describe('outbound faults (undici interceptor)', () => {
  it('passes requests through untouched with no fault, or a fault for another target', async () => {
    await runtime.apply('other', 'net-error', { status: 500, target: 'auth-service' }, 60_000);
    const res = await request(`${origin}/x`, { dispatcher: dispatcher('user-service') });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ ok: true });
    // Its evidence says so: no call to auth-service was seen, so the fault did not take.
    expect(runtime.effect('other')).toEqual({
      took: false,
      summary: 'failed with 500 0 of 0 calls to auth-service',
      figures: { seen: 0, affected: 0, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
  });

  it('delays calls to the target by the injected latency', async () => {
    await runtime.apply('d', 'net-delay', { latencyMs: 150, target: 'user-service' }, 60_000);
    const d = dispatcher('user-service');
    const t = performance.now();
    const res = await request(`${origin}/x`, { dispatcher: d });
    await res.body.dump();
    expect(performance.now() - t).toBeGreaterThanOrEqual(148);
    const effect = runtime.effect('d')!;
    expect(effect).toMatchObject({ took: true, figures: { seen: 1, affected: 1 } });
    expect(effect.figures['addedMeanMs']).toBeGreaterThanOrEqual(149);
    expect(effect.figures['addedMeanMs']).toBeLessThan(performance.now() - t);
  });

  it('answers with an error status without reaching the upstream', async () => {
    await runtime.apply('e', 'net-error', { status: 503, target: 'user-service' }, 60_000);
    const before = hits;
    const res = await request(`${origin}/x`, { dispatcher: dispatcher('user-service') });
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-chaos-fault']).toBe('e');
    expect(await res.body.json()).toMatchObject({ error: 'injected fault' });
    expect(hits).toBe(before);
    expect(runtime.effect('e')?.summary).toBe('failed with 503 1 of 1 calls to user-service');
  });

  it('resets connections, which the resilient client treats as transient and retries', async () => {
    await runtime.apply('r', 'net-reset', { target: 'user-service', percent: 50, seed: 3 }, 60_000);
    await expect(
      request(`${origin}/x`, { dispatcher: dispatcher('user-service') }).then(() =>
        request(`${origin}/x`, { dispatcher: dispatcher('user-service') }),
      ),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    const client = createHttpClient({
      baseUrls: origin,
      name: 'user-service',
      dispatcher: dispatcher('user-service'),
      retry: { maxAttempts: 6, backoff: { delay: () => 1 } },
      breaker: false,
    });
    const res = await client.get('/x');
    expect(res.statusCode).toBe(200);
    client.close();
    // Every call that reached the fault is seen; those reset are the affected ones, and only the calls that
    // answered 200 (the client's last attempt, and the first plain request if it passed) were not.
    const { figures } = runtime.effect('r')!;
    expect(figures['affected']).toBeGreaterThanOrEqual(2);
    expect(figures['seen']! - figures['affected']!).toBeGreaterThanOrEqual(1);
    expect(figures['seen']! - figures['affected']!).toBeLessThanOrEqual(2);
  });

  it('partitions (hang): calls wait until the caller times out, and a call held when the partition heals goes through', async () => {
    await runtime.apply('p', 'net-partition', { target: 'user-service' }, 60_000);
    const client = createHttpClient({
      baseUrls: origin,
      name: 'user-service',
      dispatcher: dispatcher('user-service'),
      timeoutMs: 100,
      retry: false,
      breaker: false,
    });
    const t = performance.now();
    await expect(client.get('/x')).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - t).toBeGreaterThanOrEqual(95);
    const before = hits;
    const held = request(`${origin}/x`, { dispatcher: dispatcher('user-service') });
    await new Promise((r) => setTimeout(r, 50));
    expect(hits).toBe(before);
    await runtime.recover('p');
    expect((await held).statusCode).toBe(200);
    expect(runtime.effect('p')).toMatchObject({ took: true, summary: 'held (partition) 2 of 2 calls to user-service' });
    client.close();
  });

  it('partitions (fail): calls are refused at once', async () => {
    await runtime.apply('p', 'net-partition', { target: 'user-service', mode: 'fail' }, 60_000);
    const t = performance.now();
    await expect(request(`${origin}/x`, { dispatcher: dispatcher('user-service') })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    expect(performance.now() - t).toBeLessThan(50);
  });

  it('matches a target given as host:port', async () => {
    await runtime.apply('e', 'net-error', { status: 502, target: origin.replace('http://', '') }, 60_000);
    expect((await request(`${origin}/x`, { dispatcher: dispatcher('anything') })).statusCode).toBe(502);
  });

  it('limits the body rate: 100 kB at 200 kB/s takes about half a second', async () => {
    const d = dispatcher('user-service');
    const fast = performance.now();
    await (await request(`${origin}/big`, { dispatcher: d })).body.arrayBuffer();
    const unthrottled = performance.now() - fast;
    await runtime.apply('b', 'net-bandwidth', { bytesPerSecond: 200_000, target: 'user-service' }, 60_000);
    const t = performance.now();
    const body = await (await request(`${origin}/big`, { dispatcher: d })).body.arrayBuffer();
    const took = performance.now() - t;
    expect(body.byteLength).toBe(100_000);
    expect(runtime.effect('b')).toMatchObject({ took: true, summary: 'throttled 1 of 1 calls to user-service' });
    expect(took).toBeGreaterThan(400);
    expect(took).toBeLessThan(1500);
    expect(unthrottled).toBeLessThan(100);
  });

  it('duplicates calls: the server sees each twice, the caller gets one answer; a streamed body is not duplicated', async () => {
    await runtime.apply('dup', 'net-duplicate', { target: 'user-service', method: 'POST' }, 60_000);
    const d = dispatcher('user-service');
    const before = hits;
    const res = await request(`${origin}/x`, { method: 'POST', body: '{"n":1}', dispatcher: d });
    expect(await res.body.json()).toEqual({ ok: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(hits - before).toBe(2);
    // A GET is not matched (method), and a streamed body cannot be sent twice.
    await (await request(`${origin}/x`, { dispatcher: d })).body.dump();
    const { Readable } = await import('node:stream');
    await (
      await request(`${origin}/x`, { method: 'POST', body: Readable.from(['{"n":2}']), dispatcher: d })
    ).body.dump();
    await new Promise((r) => setTimeout(r, 50));
    expect(hits - before).toBe(4);
    expect(runtime.effect('dup')).toMatchObject({ took: true, summary: 'duplicated 1 of 3 calls to user-service' });
  });

  it('corrupts one bit of a response body: the caller reads different bytes, of the same length', async () => {
    const d = dispatcher('user-service');
    const clean = Buffer.from(await (await request(`${origin}/x`, { dispatcher: d })).body.arrayBuffer());
    await runtime.apply('c', 'net-corrupt', { target: 'user-service', seed: 3 }, 60_000);
    const bad = Buffer.from(await (await request(`${origin}/x`, { dispatcher: d })).body.arrayBuffer());
    expect(bad.length).toBe(clean.length);
    const differing = [...bad].map((b, i) => b ^ clean[i]!).filter((x) => x !== 0);
    // Exactly one byte differs, by exactly one bit.
    expect(differing).toHaveLength(1);
    expect([1, 2, 4, 8, 16, 32, 64, 128]).toContain(differing[0]);
    expect(runtime.effect('c')).toMatchObject({ took: true, figures: { affected: 1, bodiesChanged: 1 } });
    await runtime.recover('c');
    expect(Buffer.from(await (await request(`${origin}/x`, { dispatcher: d })).body.arrayBuffer())).toEqual(clean);
  });
});
