import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthApp } from './app.ts';
import { TokenService } from './tokens.ts';

const SECRET = 'test-secret-test-secret-test-secret!';
let userService: Server;
let userUrl: string;
let app: FastifyInstance;
/** How long the stand-in takes to answer a credentials check, in ms. */
let slowMs = 0;
/** When set, the stand-in sheds every credentials check as user-service's load shedding does. */
let shedding = false;
/** Credentials checks the stand-in received. */
let checks = 0;

/** A stand-in user-service on loopback: one known account. */
beforeAll(async () => {
  userService = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/healthz') return res.end('{"status":"ok"}');
      checks++;
      if (shedding) {
        res.writeHead(503, { 'retry-after': '2' });
        return res.end('{"error":"at its limit","code":"RES_ERR_CONCURRENCY_LIMIT"}');
      }
      if (slowMs > 0) {
        setTimeout(() => !res.destroyed && res.end('{"error":"late"}'), slowMs);
        return;
      }
      const { email, password } = JSON.parse(body || '{}');
      if (email === 'ada@example.com' && password === 'correct horse') {
        return res.end(
          JSON.stringify({ id: '6a1d3f0e-0000-4000-8000-000000000001', email, name: 'Ada', createdAt: '' }),
        );
      }
      res.statusCode = 401;
      res.end('{"error":"invalid email or password"}');
    });
  });
  await new Promise<void>((r) => userService.listen(0, '127.0.0.1', r));
  userUrl = `http://127.0.0.1:${(userService.address() as AddressInfo).port}`;
  app = buildAuthApp({ userServiceUrls: [userUrl], tokens: new TokenService(SECRET), telemetry: false });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await new Promise((r) => userService.close(r));
});

const login = (a: FastifyInstance, payload: unknown) =>
  a.inject({ method: 'POST', url: '/auth/login', payload: payload as object });

describe('auth-service', () => {
  it('logs in with good credentials and returns a token that verifies', async () => {
    const res = await login(app, { email: 'ada@example.com', password: 'correct horse' });
    expect(res.statusCode).toBe(200);
    const { token, tokenType, expiresIn } = res.json();
    expect(tokenType).toBe('Bearer');
    expect(expiresIn).toBe(3600);
    const byBody = await app.inject({ method: 'POST', url: '/auth/verify', payload: { token } });
    expect(byBody.statusCode).toBe(200);
    expect(byBody.json()).toMatchObject({
      sub: '6a1d3f0e-0000-4000-8000-000000000001',
      email: 'ada@example.com',
      name: 'Ada',
    });
    const byHeader = await app.inject({
      method: 'POST',
      url: '/auth/verify',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(byHeader.json().sub).toBe(byBody.json().sub);
  });

  it('refuses wrong credentials with 401', async () => {
    const res = await login(app, { email: 'ada@example.com', password: 'wrong' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid email or password');
  });

  it('answers 400 naming the field for bad input', async () => {
    const res = await login(app, { email: 'nope', password: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('body.email');
    const missing = await login(app, { email: 'ada@example.com' });
    expect(missing.json().field).toBe('body.password');
  });

  it('refuses forged, expired and missing tokens', async () => {
    const { token } = (await login(app, { email: 'ada@example.com', password: 'correct horse' })).json();
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const expired = await new SignJWT({ email: 'ada@example.com' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer('nova-auth')
      .setAudience('nova')
      .setIssuedAt(1_000_000)
      .setExpirationTime(1_000_060)
      .sign(new TextEncoder().encode(SECRET));
    const otherKey = await new TokenService('another-secret-another-secret-12345').sign({
      id: 'x',
      email: 'e@x.io',
      name: 'n',
    });
    for (const t of [forged, expired, otherKey, 'not.a.jwt']) {
      const res = await app.inject({ method: 'POST', url: '/auth/verify', payload: { token: t } });
      expect(res.statusCode).toBe(401);
    }
    const none = await app.inject({ method: 'POST', url: '/auth/verify' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toMatch(/missing token/);
  });

  it('answers 503 with Retry-After, never 500, when user-service is down', async () => {
    const down = buildAuthApp({
      userServiceUrls: ['http://127.0.0.1:1'],
      tokens: new TokenService(SECRET),
      telemetry: false,
      upstreamTimeoutMs: 200,
    });
    const res = await login(down, { email: 'ada@example.com', password: 'correct horse' });
    expect(res.statusCode).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const ready = await down.inject('/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks[0]).toMatchObject({ name: 'user-service', ok: false });
    await down.close();
  });

  it('passes user-service’s shedding on at once: no retry, its Retry-After, and the breaker stays closed', async () => {
    shedding = true;
    try {
      for (let i = 0; i < 8; i++) {
        const before = checks;
        const res = await login(app, { email: 'ada@example.com', password: 'correct horse' });
        expect(res.statusCode).toBe(503);
        expect(res.headers['retry-after']).toBe('2');
        expect(res.json().error).toMatch(/user-service is at capacity/);
        // One attempt: a retry would add load where there is too much.
        expect(checks - before).toBe(1);
      }
    } finally {
      shedding = false;
    }
    // Eight 503s in a row opened no breaker: the next login goes through.
    expect((await login(app, { email: 'ada@example.com', password: 'correct horse' })).statusCode).toBe(200);
  });

  it("answers 504 at the caller's deadline when user-service is slower (not a 503 blaming it)", async () => {
    slowMs = 300;
    try {
      const started = performance.now();
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'ada@example.com', password: 'correct horse' },
        headers: { 'x-request-deadline-ms': '100' },
      });
      expect(res.statusCode).toBe(504);
      expect(res.json().code).toBe('RES_ERR_DEADLINE_EXCEEDED');
      expect(performance.now() - started).toBeLessThan(280);
    } finally {
      slowMs = 0;
    }
  });

  it('is ready when user-service answers', async () => {
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('rejects a short JWT secret at start-up', () => {
    expect(() => new TokenService('short')).toThrow(/JWT_SECRET must be at least 32 characters/);
  });
});
