import { request as httpRequest } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AdaptiveLimiter } from '../adaptive-limit.ts';
import { ErrorCodes } from '../errors.ts';
import { loadShedding } from './load-shedding.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

async function served(limiter: AdaptiveLimiter) {
  const a = Fastify();
  apps.push(a);
  await a.register(loadShedding, { limiter, retryAfterSeconds: 2 });
  const g = gate();
  let handled = 0;
  a.get('/work', async () => {
    handled++;
    await g.opened;
    return 'done';
  });
  a.get('/fail', async (_req, reply) => reply.code(503).send('down'));
  a.get('/healthz', async () => 'ok');
  return { a, g, handled: () => handled };
}

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('loadShedding plugin', () => {
  it('answers 503 with Retry-After beyond the limit, before the handler, and admits again after', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 2 });
    const { a, g, handled } = await served(limiter);
    const running = [a.inject({ url: '/work' }), a.inject({ url: '/work' })];
    await until(() => handled() === 2);
    const shed = await a.inject({ url: '/work' });
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['retry-after']).toBe('2');
    expect(shed.json().code).toBe(ErrorCodes.CONCURRENCY_LIMIT);
    expect(handled()).toBe(2);
    // Health checks are never shed.
    expect((await a.inject({ url: '/healthz' })).statusCode).toBe(200);
    g.open();
    expect((await Promise.all(running)).map((r) => r.statusCode)).toEqual([200, 200]);
    expect(limiter.inFlight).toBe(0);
    expect((await a.inject({ url: '/work' })).statusCode).toBe(200);
  });

  it('learns from the answers: a 5xx is a drop that lowers the limit', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 10 });
    const { a } = await served(limiter);
    await a.inject({ url: '/fail' });
    expect(limiter.limit).toBe(9);
    expect(limiter.inFlight).toBe(0);
  });

  it('gives back the place of a caller that hangs up', async () => {
    const limiter = new AdaptiveLimiter({ algorithm: 'aimd', initialLimit: 1 });
    const { a, g, handled } = await served(limiter);
    const url = new URL(await a.listen({ host: '127.0.0.1', port: 0 }));
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/work' });
    req.on('error', () => undefined);
    req.end();
    await until(() => handled() === 1);
    expect(limiter.inFlight).toBe(1);
    req.destroy();
    await until(() => limiter.inFlight === 0);
    expect(limiter.inFlight).toBe(0);
    g.open();
  });
});

describe('loadShedding plugin details', () => {
  it('builds its own limiter from the options, exempts health paths with a query, and says Retry-After 1', async () => {
    const a = Fastify();
    apps.push(a);
    await a.register(loadShedding, { algorithm: 'aimd', initialLimit: 1 });
    const g = gate();
    a.get('/work', async () => {
      await g.opened;
      return 'done';
    });
    a.get('/healthz', async () => 'ok');
    const running = a.inject({ url: '/work' });
    await new Promise((r) => setTimeout(r, 20));
    const shed = await a.inject({ url: '/work' });
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['retry-after']).toBe('1');
    expect((await a.inject({ url: '/healthz?verbose=1' })).statusCode).toBe(200);
    g.open();
    await running;
  });

  it('takes a custom exemption, and refuses options out of range at registration', async () => {
    const a = Fastify();
    apps.push(a);
    await a.register(loadShedding, { algorithm: 'aimd', initialLimit: 1, exempt: (r) => r.url.startsWith('/admin') });
    const g = gate();
    a.get('/admin/slow', async () => {
      await g.opened;
      return 'admin';
    });
    a.get('/work', async () => 'work');
    const admin = a.inject({ url: '/admin/slow' });
    await new Promise((r) => setTimeout(r, 20));
    expect((await a.inject({ url: '/work' })).statusCode).toBe(200); // the admin call took no place
    g.open();
    await admin;
    const b = Fastify();
    apps.push(b);
    await expect(b.register(loadShedding, { minLimit: 0 })).rejects.toThrow(/minLimit is out of range/);
  });
});
