import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestDatabase } from '@nova/local-postgres';
import { createPool, migrate } from '@nova/service-kit';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildMessagingApp } from './app.ts';
import { migrations } from './migrations.ts';

/** Stand-ins for auth-service and user-service on loopback, each switchable to "down" (503). */
const ALICE = randomUUID();
const BOB = randomUUID();
const CAROL = randomUUID();
const tokens: Record<string, string> = { 'token-alice': ALICE, 'token-bob': BOB };
const known = new Set<string>([ALICE, BOB, CAROL]);
const down = { auth: false, user: false };
/** Answer delay of each stand-in, in ms. */
const slow = { auth: 0, user: 0 };
let userCalls = 0;
/** `traceparent` of every call the stubs received, by upstream. */
const seen: Array<{ upstream: 'auth' | 'user'; traceparent: string | undefined }> = [];

function stub(
  upstream: 'auth' | 'user',
  handle: (url: string, body: string) => [number, unknown],
  isDown: () => boolean,
): Server {
  return createServer((req, res) => {
    if (req.url !== '/healthz') seen.push({ upstream, traceparent: req.headers.traceparent as string | undefined });
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const [status, payload] =
        req.url === '/healthz' ? [200, { status: 'ok' }] : isDown() ? [503, { error: 'down' }] : handle(req.url!, body);
      setTimeout(
        () => {
          if (res.destroyed) return;
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(payload));
        },
        req.url === '/healthz' ? 0 : slow[upstream],
      );
    });
  });
}

const servers: Server[] = [];
async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let pool: pg.Pool;
let app: FastifyInstance;
let authUrl: string;
let userUrl: string;

beforeAll(async () => {
  authUrl = await listen(
    stub(
      'auth',
      (_url, body) => {
        const sub = tokens[JSON.parse(body).token as string];
        return sub ? [200, { sub, email: 'x@example.com', name: 'x', iat: 0, exp: 0 }] : [401, { error: 'invalid' }];
      },
      () => down.auth,
    ),
  );
  userUrl = await listen(
    stub(
      'user',
      (url) => {
        userCalls++;
        const id = url.split('/').pop()!;
        return known.has(id)
          ? [200, { id, email: 'x@example.com', name: 'x', createdAt: '' }]
          : [404, { error: 'no user' }];
      },
      () => down.user,
    ),
  );
  pool = createPool(await createTestDatabase(inject('postgresUrl'), 'messaging'));
  await migrate(pool, 'messaging', migrations);
  app = build();
  await app.ready();
});

/** The app under test on the stand-ins, with `extra` options. */
const build = (extra: Partial<Parameters<typeof buildMessagingApp>[0]> = {}): FastifyInstance =>
  buildMessagingApp({
    pool,
    authServiceUrls: [authUrl],
    userServiceUrls: [userUrl],
    telemetry: true,
    upstreamTimeoutMs: 300,
    breakerResetMs: 60_000,
    ...extra,
  });
afterAll(async () => {
  await app.close();
  await pool.end();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const send = (token: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/messages',
    payload: body as object,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
const read = (token: string, query: string) =>
  app.inject({ method: 'GET', url: `/messages?${query}`, headers: { authorization: `Bearer ${token}` } });

describe('messaging-service', () => {
  it("carries the caller's trace, and its sampling decision, to auth-service and user-service", async () => {
    for (const flags of ['01', '00']) {
      seen.length = 0;
      const traceparent = `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-${flags}`;
      expect((await send('token-alice', { to: CAROL, text: 'traced' }, { traceparent })).statusCode).toBe(201);
      expect(seen.map((s) => s.upstream).sort()).toEqual(['auth', 'user']);
      for (const s of seen)
        expect(s.traceparent).toMatch(
          new RegExp(`^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-${flags}$`),
        );
    }
  });

  it('sends messages and reads the conversation from both sides, newest first, page by page', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await send(i % 2 ? 'token-alice' : 'token-bob', { to: i % 2 ? BOB : ALICE, text: `hello ${i}` });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ text: `hello ${i}` });
    }
    const first = (await read('token-alice', `with=${BOB}&limit=2`)).json();
    expect(first.messages.map((m: { text: string }) => m.text)).toEqual(['hello 5', 'hello 4']);
    const second = (await read('token-bob', `with=${ALICE}&limit=2&cursor=${first.nextCursor}`)).json();
    expect(second.messages.map((m: { text: string }) => m.text)).toEqual(['hello 3', 'hello 2']);
    const last = (await read('token-alice', `with=${BOB}&limit=2&cursor=${second.nextCursor}`)).json();
    expect(last.messages.map((m: { text: string }) => m.text)).toEqual(['hello 1']);
    expect(last.nextCursor).toBeUndefined();
    expect(last.messages[0]).toMatchObject({ from: ALICE, to: BOB });
  });

  it('stores exactly one message for a retried send with the same Idempotency-Key', async () => {
    const key = randomUUID();
    const a = await send('token-alice', { to: CAROL, text: 'once' }, { 'idempotency-key': key });
    const b = await send('token-alice', { to: CAROL, text: 'once' }, { 'idempotency-key': key });
    expect([a.statusCode, b.statusCode]).toEqual([201, 200]);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.json().id).toBe(a.json().id);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM messaging.messages WHERE idempotency_key = $1', [
      key,
    ]);
    expect(rows[0].n).toBe(1);
    // Without a key, two sends are two messages.
    await send('token-alice', { to: CAROL, text: 'twice' });
    await send('token-alice', { to: CAROL, text: 'twice' });
    const twice = await pool.query("SELECT count(*)::int AS n FROM messaging.messages WHERE body = 'twice'");
    expect(twice.rows[0].n).toBe(2);
  });

  it('refuses missing or invalid tokens and unknown recipients', async () => {
    expect((await send(undefined, { to: BOB, text: 'x' })).statusCode).toBe(401);
    expect((await send('token-mallory', { to: BOB, text: 'x' })).statusCode).toBe(401);
    const res = await send('token-alice', { to: randomUUID(), text: 'x' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatch(/no recipient/);
  });

  it('answers 400 naming the field, and 413 for an oversized body', async () => {
    const badTo = await send('token-alice', { to: 'bob', text: 'x' });
    expect(badTo.statusCode).toBe(400);
    expect(badTo.json().field).toBe('body.to');
    const long = await send('token-alice', { to: BOB, text: 'x'.repeat(2001) });
    expect(long.json().field).toBe('body.text');
    const badKey = await send('token-alice', { to: BOB, text: 'x' }, { 'idempotency-key': 'k'.repeat(200) });
    expect(badKey.json().field).toBe('headers.idempotency-key');
    const badCursor = await read('token-alice', `with=${BOB}&cursor=garbage`);
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().error).toMatch(/cursor/);
    expect((await send('token-alice', { to: BOB, text: 'x'.repeat(70_000) })).statusCode).toBe(413);
  });

  it('keeps sending to recently seen recipients while user-service is down, and says 503 for others', async () => {
    const stranger = randomUUID();
    known.add(stranger); // exists, but messaging-service has never seen it
    down.user = true;
    try {
      const cached = await send('token-alice', { to: BOB, text: 'during outage' });
      expect(cached.statusCode).toBe(201);
      const unseen = await send('token-alice', { to: stranger, text: 'x' });
      expect(unseen.statusCode).toBe(503);
      expect(Number(unseen.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Enough failures open the breaker: further sends use the cache without calling user-service.
      for (let i = 0; i < 5; i++) await send('token-alice', { to: BOB, text: `outage ${i}` });
      const callsBefore = userCalls;
      expect((await send('token-alice', { to: BOB, text: 'breaker open' })).statusCode).toBe(201);
      expect(userCalls).toBe(callsBefore);
      const metrics = (await app.inject('/metrics')).body;
      expect(metrics).toMatch(/circuit_breaker_state\{service="messaging-service",upstream="user-service"\} 1/);
      expect(metrics).toMatch(/fallback_used_total\{service="messaging-service",upstream="user-service"\} [1-9]/);
    } finally {
      down.user = false;
    }
  });

  it('answers 503 with Retry-After, never 500, while auth-service is down', async () => {
    down.auth = true;
    try {
      const res = await send('token-alice', { to: BOB, text: 'x' });
      expect(res.statusCode).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await read('token-alice', `with=${BOB}`)).statusCode).toBe(503);
    } finally {
      down.auth = false;
    }
  });

  it("answers 504 at the caller's deadline when auth-service is slower, without retrying it, and counts it", async () => {
    slow.auth = 250;
    const authCalls = () => seen.filter((c) => c.upstream === 'auth').length;
    const before = authCalls();
    try {
      const started = performance.now();
      const res = await send('token-alice', { to: BOB, text: 'x' }, { 'x-request-deadline-ms': '120' });
      const took = performance.now() - started;
      expect(res.statusCode).toBe(504);
      expect(res.json().code).toBe('RES_ERR_DEADLINE_EXCEEDED');
      expect(took).toBeGreaterThanOrEqual(110);
      expect(took).toBeLessThan(250);
      expect(authCalls() - before).toBe(1);
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metrics).toMatch(
        /resilience_events_total\{service="messaging-service",kind="deadline-exceeded",policy="request-deadline"\} [1-9]/,
      );
    } finally {
      slow.auth = 0;
    }
  });

  it('opens the user-service breaker on slow answers (not only failures) and sends from the recipient cache', async () => {
    const slowApp = build({ userSlowCallMs: 50 });
    await slowApp.ready();
    const post = (text: string) =>
      slowApp.inject({
        method: 'POST',
        url: '/messages',
        payload: { to: BOB, text },
        headers: { authorization: 'Bearer token-alice' },
      });
    try {
      expect((await post('seen once')).statusCode).toBe(201); // BOB is now in the cache
      slow.user = 120; // slower than 50 ms, well within the 300 ms timeout: no call fails
      for (let i = 0; i < 6; i++) expect((await post(`slow ${i}`)).statusCode).toBe(201);
      const callsBefore = userCalls;
      const started = performance.now();
      expect((await post('breaker open')).statusCode).toBe(201);
      expect(performance.now() - started).toBeLessThan(100);
      expect(userCalls).toBe(callsBefore);
      const metrics = (await slowApp.inject('/metrics')).body;
      expect(metrics).toMatch(/circuit_breaker_state\{service="messaging-service",upstream="user-service"\} 1/);
    } finally {
      slow.user = 0;
      await slowApp.close();
    }
  });
});
