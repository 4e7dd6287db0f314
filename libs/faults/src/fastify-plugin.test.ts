import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inboundFaults } from './fastify-plugin.ts';
import { FaultRuntime } from './runtime.ts';

const runtime = new FaultRuntime();
let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  // Registered before the plugin: marks when the request arrived, so the handler sees what the fault added.
  app.addHook('onRequest', async (req) => {
    (req as unknown as { t0: number }).t0 = performance.now();
  });
  await app.register(inboundFaults, { runtime });
  app.get('/users/:id', async (req) => ({ waited: performance.now() - (req as unknown as { t0: number }).t0 }));
  app.post('/users', async () => ({ created: true }));
  app.get('/metrics', async () => 'metrics');
  await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await runtime.recoverAll();
  await app.close();
});

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

/** Time each of `n` requests waited between arrival and handler, in batches of 50 concurrent requests. */
async function latencies(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let done = 0; done < n; done += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await app.inject('/users/1');
        expect(res.statusCode).toBe(200);
        return res.json<{ waited: number }>().waited;
      }),
    );
    out.push(...batch);
  }
  return out;
}

describe('inbound faults (fastify plugin)', () => {
  it('delays by 100 ms ± 10 ms: over 500 requests the mean is 100 ± 1.5 ms and the jitter shows (fake clock)', async () => {
    // On the test's own clock, so the figures are the fault's and not a loaded machine's scheduling.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      await runtime.apply('delay', 'http-delay', { latencyMs: 100, jitterMs: 10, seed: 7 }, 60_000);
      const pending = Array.from({ length: 500 }, async () => {
        const res = await app.inject('/users/1');
        expect(res.statusCode).toBe(200);
        return res.json<{ waited: number }>().waited;
      });
      await vi.advanceTimersByTimeAsync(200);
      const delayed = await Promise.all(pending);
      await runtime.recover('delay');
      expect(Math.abs(mean(delayed) - 100)).toBeLessThan(1.5);
      // Uniform ±10 ms has a standard deviation of 5.8 ms.
      expect(sd(delayed)).toBeGreaterThan(4.5);
      expect(Math.min(...delayed)).toBeGreaterThanOrEqual(90);
      expect(Math.max(...delayed)).toBeLessThanOrEqual(110);
      // The evidence the fault reports: every one of the 500 delayed, by what it measured (timer to callback).
      const effect = runtime.effect('delay')!;
      expect(effect).toMatchObject({ took: true, figures: { seen: 500, affected: 500 } });
      expect(Math.abs(effect.figures['addedMeanMs']! - mean(delayed))).toBeLessThan(0.1);
      expect(effect.figures['addedP99Ms']).toBeGreaterThanOrEqual(108);
      expect(effect.summary).toMatch(/^delayed 500 of 500 requests, \+\d+(\.\d)? ms mean \(p99 \+\d+(\.\d)? ms\)$/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('on the real clock, never delays less than asked, and reports what it really added', async () => {
    const baseline = mean(await latencies(50));
    await runtime.apply('delay', 'http-delay', { latencyMs: 100 }, 60_000);
    const delayed = await latencies(50);
    await runtime.recover('delay');
    // A timer may fire a fraction of a millisecond early on Node's clock; never more.
    expect(Math.min(...delayed)).toBeGreaterThanOrEqual(99);
    // What it reports is what it added, timer to callback: never less than asked. (How it compares with what
    // the handler saw is checked on the fake clock above: on a loaded machine, queueing moves both.)
    const effect = runtime.effect('delay')!;
    expect(effect.figures['addedMeanMs']).toBeGreaterThanOrEqual(99);
    // Recovered: no request waits for the 100 ms any more (half of it is far above a busy machine's noise).
    expect(Math.max(...(await latencies(50)))).toBeLessThan(baseline + 50);
  });

  it('hits 10 ± 2 % of 2000 requests with percent: 10', async () => {
    await runtime.apply('err', 'http-error', { status: 503, percent: 10, seed: 42 }, 60_000);
    let hit = 0;
    for (let i = 0; i < 2000; i++) if ((await app.inject('/users/1')).statusCode === 503) hit++;
    await runtime.recover('err');
    expect(runtime.effect('err')).toEqual({
      took: true,
      summary: `answered 503 to ${hit} of 2000 requests`,
      figures: { seen: 2000, affected: hit, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
    // Per second since it was applied, the requests it hit: they add up to every hit.
    expect(runtime.effect('err')!.perSecond!.reduce((a, b) => a + b, 0)).toBe(hit);
    expect(hit / 20).toBeGreaterThanOrEqual(8);
    expect(hit / 20).toBeLessThanOrEqual(12);
  });

  it('answers a chosen status only for matching method, path and headers, never on /metrics', async () => {
    await runtime.apply(
      'e',
      'http-error',
      { status: 502, path: '/users/*', method: 'GET', headers: { 'x-canary': 'true' } },
      60_000,
    );
    const hit = await app.inject({ url: '/users/9', headers: { 'x-canary': 'true' } });
    expect(hit.statusCode).toBe(502);
    expect(hit.headers['x-chaos-fault']).toBe('e');
    expect((await app.inject('/users/9')).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/users', headers: { 'x-canary': 'true' } })).statusCode).toBe(200);
    await runtime.apply('all', 'http-error', { status: 500 }, 60_000);
    expect((await app.inject('/metrics')).statusCode).toBe(200);
    await runtime.recoverAll();
    expect((await app.inject({ url: '/users/9', headers: { 'x-canary': 'true' } })).statusCode).toBe(200);
  });

  it('aborts: the connection closes without an answer', async () => {
    const { port } = app.server.address() as AddressInfo;
    await runtime.apply('abort', 'http-abort', { path: '/users/*' }, 60_000);
    await expect(request(`http://127.0.0.1:${port}/users/1`)).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(runtime.effect('abort')).toMatchObject({ took: true, figures: { seen: 1, affected: 1 } });
    await runtime.recover('abort');
    expect((await request(`http://127.0.0.1:${port}/users/1`)).statusCode).toBe(200);
  });

  it('reports no effect for a fault whose requests never come: the path is never called', async () => {
    await runtime.apply('idle', 'http-abort', { path: '/never/*' }, 60_000);
    for (let i = 0; i < 20; i++) expect((await app.inject('/users/1')).statusCode).toBe(200);
    await runtime.recover('idle');
    expect(runtime.effect('idle')).toEqual({
      took: false,
      summary: 'aborted 0 of 20 requests',
      figures: { seen: 20, affected: 0, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
  });
});
