import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CircuitState } from '../circuit-breaker.ts';
import { DEADLINE_HEADER, deadlineFromHeaders } from '../deadline.ts';
import { BrokenCircuitError, HttpStatusError, TimeoutError } from '../errors.ts';
import { constantBackoff } from '../backoff.ts';
import { onResilienceEvent } from '../events.ts';
import { createHttpClient, type AttemptEvent, type HttpClient } from './http-client.ts';
import { parseRetryAfter } from './retry-after.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: Server[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A real HTTP server on a loopback port, recording every request it sees. */
async function upstream(
  handler: Handler,
): Promise<{ url: string; seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> }> {
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const reply =
  (status: number, body: unknown = {}, headers: Record<string, string> = {}): Handler =>
  (_q, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

function client(options: Parameters<typeof createHttpClient>[0]): HttpClient {
  const c = createHttpClient(options);
  clients.push(c);
  return c;
}

describe('HttpClient', () => {
  it('sends JSON and returns the parsed answer, passing trace context and defaults through', async () => {
    const up = await upstream((req, res, body) =>
      reply(201, { echo: JSON.parse(body), method: req.method })(req, res, body),
    );
    const c = client({
      baseUrls: up.url,
      headers: { 'user-agent': 'nova-test' },
      traceHeaders: () => ({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
    });
    const res = await c.post('/things', { a: 1 });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ echo: { a: 1 }, method: 'POST' });
    expect(up.seen[0]?.headers['traceparent']).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(up.seen[0]?.headers['user-agent']).toBe('nova-test');
    expect(up.seen[0]?.headers['content-type']).toBe('application/json');
  });

  it('sends a call’s own traceparent without asking for the ambient one, and mixes in none of its tracestate', async () => {
    const up = await upstream(reply(200));
    let asked = 0;
    const c = client({
      baseUrls: up.url,
      traceHeaders: () => {
        asked++;
        return { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'ambient=1' };
      },
    });
    const own = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    await c.get('/x', { headers: { traceparent: own } });
    await c.get('/x', { headers: { TraceParent: own } });
    expect(asked).toBe(0);
    expect(up.seen.map((r) => [r.headers['traceparent'], r.headers['tracestate']])).toEqual([
      [own, undefined],
      [own, undefined],
    ]);
    await c.get('/x');
    expect(asked).toBe(1);
    expect(up.seen[2]?.headers['tracestate']).toBe('ambient=1');
  });

  it('spreads calls round-robin over its base URLs', async () => {
    const a = await upstream(reply(200));
    const b = await upstream(reply(200));
    const c = client({ baseUrls: [a.url, b.url] });
    for (let i = 0; i < 6; i++) await c.get('/x');
    expect([a.seen.length, b.seen.length]).toEqual([3, 3]);
  });

  it('retries an idempotent call on 503 and reports every attempt', async () => {
    let n = 0;
    const up = await upstream((q, r, b) => reply(++n < 3 ? 503 : 200, { n })(q, r, b));
    const events: AttemptEvent[] = [];
    const c = client({ baseUrls: up.url, retry: { backoff: constantBackoff(1) }, onAttempt: (e) => events.push(e) });
    const res = await c.get('/users/1');
    expect(res.json()).toEqual({ n: 3 });
    expect(events.map((e) => [e.attempt, e.statusCode])).toEqual([
      [1, 503],
      [2, 503],
      [3, 200],
    ]);
  });

  it('never retries a POST without an idempotency key, and retries one that has a key', async () => {
    const up = await upstream(reply(503));
    const c = client({ baseUrls: up.url, retry: { backoff: constantBackoff(1) }, breaker: false });
    const err = await c.post('/messages', { text: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect((err as HttpStatusError).statusCode).toBe(503);
    expect(up.seen).toHaveLength(1);
    await c.post('/messages', { text: 'hi' }, { idempotencyKey: 'k-1' }).catch(() => undefined);
    expect(up.seen).toHaveLength(4);
    expect(up.seen[3]?.headers['idempotency-key']).toBe('k-1');
    // A read-only POST may be declared idempotent; a GET may be declared not to be.
    await c.post('/tokens/verify', { token: 't' }, { idempotent: true }).catch(() => undefined);
    expect(up.seen).toHaveLength(7);
    await c.get('/once', { idempotent: false }).catch(() => undefined);
    expect(up.seen).toHaveLength(8);
  });

  it('honours Retry-After: a wait longer than it accepts is not retried, and the wait is reported', async () => {
    const up = await upstream(reply(429, {}, { 'retry-after': '5' }));
    const c = client({ baseUrls: up.url, retry: { maxRetryAfterMs: 1000 } });
    const err = (await c.get('/limited').catch((e: unknown) => e)) as HttpStatusError;
    expect(err.statusCode).toBe(429);
    expect(err.retryAfterMs).toBe(5000);
    expect(up.seen).toHaveLength(1);
  });

  it('returns 4xx answers without retrying and without opening the breaker', async () => {
    const up = await upstream(reply(404, { error: 'no such user' }));
    const c = client({ baseUrls: up.url, breaker: { minimumVolume: 1 } });
    for (let i = 0; i < 5; i++) expect((await c.get('/users/9')).statusCode).toBe(404);
    expect(up.seen).toHaveLength(5);
    expect(c.state).toBe(CircuitState.Closed);
  });

  it('sends a retry to a replica the request has not tried, even when concurrent calls moved the cursor', async () => {
    const bad = await upstream(reply(503));
    const good = await upstream(reply(200));
    // No breaker, so the failing replica is never ejected: only the choice of replica for the retry saves a call.
    const c = client({
      baseUrls: [bad.url, good.url],
      retry: { maxAttempts: 2, backoff: constantBackoff(1) },
      breaker: false,
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        c.get('/x').then(
          (r) => r.statusCode,
          (e: unknown) => e,
        ),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, () => 200));
    expect(bad.seen).toHaveLength(10); // each of the first attempts it got, once
    expect(good.seen).toHaveLength(20);
  });

  it('tries a replica it already tried again when it has tried them all', async () => {
    let calls = 0;
    const flaky = await upstream((req, res, body) => reply(++calls === 1 ? 503 : 200)(req, res, body));
    const c = client({ baseUrls: [flaky.url], retry: { maxAttempts: 2, backoff: constantBackoff(1) }, breaker: false });
    expect((await c.get('/x')).statusCode).toBe(200);
    expect(flaky.seen).toHaveLength(2);
  });

  it('ejects an endpoint whose breaker opened and keeps serving from the healthy one', async () => {
    const bad = await upstream(reply(500));
    const good = await upstream(reply(200));
    const changes: string[] = [];
    const c = client({
      baseUrls: [bad.url, good.url],
      retry: { backoff: constantBackoff(1), shouldRetry: () => true },
      breaker: { minimumVolume: 2, resetTimeoutMs: 60_000 },
      onBreakerStateChange: (e) => changes.push(`${e.endpoint}:${e.state}`),
    });
    for (let i = 0; i < 10; i++) expect((await c.get('/ok')).statusCode).toBe(200);
    expect(bad.seen).toHaveLength(2);
    expect(changes).toEqual([`${bad.url}:${CircuitState.Open}`]);
    expect(c.breakerStates.map((s) => s.state)).toEqual([CircuitState.Open, CircuitState.Closed]);
    expect(c.state).toBe(CircuitState.HalfOpen);
  });

  it('sends every request to the healthy replica while the other is half-open with its probe out', async () => {
    let recovering = false;
    const a = await upstream((req, res, body) => {
      if (!recovering) return reply(503)(req, res, body);
      setTimeout(() => reply(200, { from: 'a' })(req, res, body), 300);
    });
    const b = await upstream(reply(200, { from: 'b' }));
    const c = client({
      baseUrls: [a.url, b.url],
      retry: { backoff: constantBackoff(1), maxAttempts: 3 },
      breaker: { minimumVolume: 2, resetTimeoutMs: 200 },
    });
    for (let i = 0; i < 6; i++) await c.get('/x');
    expect(c.breakerStates[0]!.state).toBe(CircuitState.Open);
    recovering = true;
    await new Promise((r) => setTimeout(r, 250));
    expect(c.breakerStates[0]!.state).toBe(CircuitState.HalfOpen);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        c.get('/x').then(
          (r) => r.json<{ from: string }>().from,
          (e: unknown) => e,
        ),
      ),
    );
    expect(results.filter((r) => r === 'a')).toHaveLength(1); // the one probe
    expect(results.filter((r) => r === 'b')).toHaveLength(5);
  });

  it('fails fast with BrokenCircuitError when every endpoint is open', async () => {
    const bad = await upstream(reply(500));
    const c = client({ baseUrls: bad.url, retry: false, breaker: { minimumVolume: 1, resetTimeoutMs: 60_000 } });
    await c.get('/x').catch(() => undefined);
    expect(c.state).toBe(CircuitState.Open);
    await expect(c.get('/x')).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(bad.seen).toHaveLength(1);
  });

  it('times out a slow attempt and aborts the request', async () => {
    let closed = false;
    const up = await upstream((_q, res) => {
      res.on('close', () => (closed = true));
      setTimeout(() => reply(200)(_q, res, ''), 2000).unref();
    });
    const c = client({ baseUrls: up.url, timeoutMs: 50, retry: false });
    await expect(c.get('/slow')).rejects.toBeInstanceOf(TimeoutError);
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(true);
  });

  it('propagates the remaining deadline to the callee, which reads it back', async () => {
    const up = await upstream(reply(200));
    const c = client({ baseUrls: up.url });
    await c.get('/x', { deadline: performance.now() + 1000 });
    const sent = Number(up.seen[0]?.headers[DEADLINE_HEADER]);
    expect(sent).toBeGreaterThan(900);
    expect(sent).toBeLessThanOrEqual(1000);
    const deadline = deadlineFromHeaders(up.seen[0]!.headers)!;
    expect(deadline - performance.now()).toBeGreaterThan(800);
    expect(deadlineFromHeaders({})).toBeUndefined();
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: 'soon' })).toBeUndefined();
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: ['5'] })! - performance.now()).toBeLessThanOrEqual(5);
  });

  it('keeps a budget the caller set in the headers when it is the smaller, never a larger one', async () => {
    const up = await upstream(reply(200));
    const c = client({ baseUrls: up.url, timeoutMs: 5_000 });
    await c.get('/x', { headers: { [DEADLINE_HEADER]: '600' } });
    await c.get('/x', { headers: { [DEADLINE_HEADER]: '60000' } });
    await c.get('/x', { headers: { [DEADLINE_HEADER]: 'soon' } });
    const sent = up.seen.map((r) => Number(r.headers[DEADLINE_HEADER]));
    expect(sent[0]).toBe(600);
    expect(sent[1]).toBeLessThanOrEqual(5_000);
    expect(sent[1]).toBeGreaterThan(4_000);
    expect(sent[2]).toBeLessThanOrEqual(5_000);
  });

  it('rejects a malformed base URL with a message naming it', () => {
    expect(() => createHttpClient({ baseUrls: 'localhost:80' })).toThrow(/"localhost:80" must be an http\(s\) origin/);
    expect(() => createHttpClient({ baseUrls: [] })).toThrow(/at least one URL/);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', 0)).toBe(120_000);
    expect(parseRetryAfter(['3'], 0)).toBe(3000);
    const now = Date.parse('Tue, 24 Nov 2026 10:00:00 GMT');
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('HttpClient details', () => {
  it('retries every idempotent method on 503 and POST/PATCH only with a key', async () => {
    const up = await upstream(reply(503));
    const c = client({ baseUrls: up.url, breaker: false, retry: { maxAttempts: 2, backoff: constantBackoff(1) } });
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST', 'PATCH']) {
      up.seen.length = 0;
      await c.request({ path: '/m', method: method.toLowerCase() }).catch(() => undefined);
      expect([method, up.seen.length]).toEqual([method, ['POST', 'PATCH'].includes(method) ? 1 : 2]);
    }
  });

  it('sends a string body as is, with no JSON content type, and an idempotency key only when given', async () => {
    const bodies: string[] = [];
    const up = await upstream((req, res, body) => {
      bodies.push(body);
      reply(200)(req, res, body);
    });
    const c = client({ baseUrls: `${up.url}//` });
    await c.post('/raw', 'plain text');
    await c.get('/nobody');
    await c.request({ path: '/key', method: 'POST', body: { a: 1 }, idempotencyKey: 'k-1' });
    expect(bodies).toEqual(['plain text', '', '{"a":1}']);
    expect(up.seen.map((s) => s.url)).toEqual(['/raw', '/nobody', '/key']);
    expect(up.seen[0]!.headers['content-type']).toBeUndefined();
    expect(up.seen[0]!.headers['idempotency-key']).toBeUndefined();
    expect(up.seen[2]!.headers['idempotency-key']).toBe('k-1');
    // Each attempt's own timeout (2 s by default) is the budget the callee is told.
    expect(Number(up.seen[1]!.headers[DEADLINE_HEADER])).toBeLessThanOrEqual(2_000);
    expect(Number(up.seen[1]!.headers[DEADLINE_HEADER])).toBeGreaterThan(1_000);
  });

  it('is named after its first host unless named, and reports each attempt with its duration', async () => {
    const up = await upstream((req, res, body) => setTimeout(() => reply(200)(req, res, body), 20));
    const attempts: AttemptEvent[] = [];
    const c = client({ baseUrls: up.url, onAttempt: (e) => attempts.push(e) });
    expect(c.name).toBe(new URL(up.url).host);
    await c.get('/t');
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.upstream).toBe(new URL(up.url).host);
    expect(attempts[0]!.durationMs).toBeGreaterThanOrEqual(15);
    expect(attempts[0]!.durationMs).toBeLessThan(2_000);
    expect(client({ baseUrls: up.url, name: 'users' }).name).toBe('users');
  });

  it('works without breakers or retries when told so', async () => {
    const up = await upstream(reply(503));
    const c = client({ baseUrls: up.url, breaker: false, retry: false });
    for (let i = 0; i < 30; i++) await c.get('/x').catch(() => undefined);
    expect(up.seen).toHaveLength(30); // no retry, and no breaker ever opened
    expect(c.breakerStates).toEqual([{ endpoint: up.url, state: CircuitState.Closed }]);
    expect(c.state).toBe(CircuitState.Closed);
  });

  it('reports half-open when any endpoint is half-open or open, and open only when all are', async () => {
    const bad = await upstream(reply(503));
    const good = await upstream(reply(200));
    const c = client({
      baseUrls: [bad.url, good.url],
      retry: false,
      breaker: { minimumVolume: 1, resetTimeoutMs: 60_000 },
    });
    await c.get('/x').catch(() => undefined); // bad: opens
    expect(c.breakerStates.map((s) => s.state)).toEqual([CircuitState.Open, CircuitState.Closed]);
    expect(c.state).toBe(CircuitState.HalfOpen);
  });

  it('passes the caller signal through: an abort stops the request', async () => {
    const up = await upstream(() => undefined); // never answers
    const c = client({ baseUrls: up.url, retry: false });
    const caller = new AbortController();
    const p = c.get('/hang', { signal: caller.signal });
    setTimeout(() => caller.abort(new Error('caller gave up')), 20);
    await expect(p).rejects.toThrow('caller gave up');
  });

  it('stops its breakers’ timers when closed', () => {
    vi.useFakeTimers();
    try {
      const before = vi.getTimerCount();
      const c = createHttpClient({ baseUrls: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] });
      expect(vi.getTimerCount()).toBeGreaterThan(before);
      c.close();
      expect(vi.getTimerCount()).toBe(before);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses base URLs with a path or without a scheme', () => {
    expect(() => createHttpClient({ baseUrls: 'http://127.0.0.1:1/api' })).toThrow(/must be an http\(s\) origin/);
    expect(() => createHttpClient({ baseUrls: 'x http://127.0.0.1:1' })).toThrow(/must be an http\(s\) origin/);
    expect(() => createHttpClient({ baseUrls: [] })).toThrow(/at least one URL/);
  });
});

describe('HttpClient hedging', () => {
  /** A replica that answers after `ms`, counting the requests whose caller hung up before it answered. */
  async function slowReplica(ms: number): Promise<{ url: string; seen: unknown[]; abandoned: () => number }> {
    let abandoned = 0;
    const replica = await upstream((req, res, body) => {
      const timer = setTimeout(() => reply(200, { from: 'slow' })(req, res, body), ms);
      res.on('close', () => {
        if (res.writableFinished) return;
        abandoned++;
        clearTimeout(timer);
      });
    });
    return { ...replica, abandoned: () => abandoned };
  }

  it('sends a slow idempotent request again to the other replica: the first answer wins, the slow one is aborted', async () => {
    const slow = await slowReplica(400);
    const fast = await upstream(reply(200, { from: 'fast' }));
    const hedges: unknown[] = [];
    const subscription = onResilienceEvent((e) => e.kind === 'hedge' && hedges.push(e));
    try {
      const c = client({ baseUrls: [slow.url, fast.url], hedge: { delayMs: 20 }, breaker: false, name: 'users' });
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const res = await c.get('/users/1');
        expect(res.json()).toEqual({ from: 'fast' });
        expect(performance.now() - t).toBeLessThan(300);
      }
      // Each request went first to the slow replica (the hedge moved the cursor back to it), then to the fast one.
      expect(slow.seen).toHaveLength(3);
      expect(fast.seen).toHaveLength(3);
      expect(hedges).toEqual(Array.from({ length: 3 }, () => expect.objectContaining({ policy: 'users', attempt: 2 })));
      await vi.waitFor(() => expect(slow.abandoned()).toBe(3), { timeout: 2_000 });
    } finally {
      subscription.dispose();
    }
  });

  it('hedges nothing that is not idempotent, and nothing by default', async () => {
    const slow = await slowReplica(150);
    const fast = await upstream(reply(200, { from: 'fast' }));
    const hedged = client({ baseUrls: [slow.url, fast.url], hedge: { delayMs: 10 }, breaker: false, retry: false });
    expect((await hedged.post('/messages', { text: 'once' })).json()).toEqual({ from: 'slow' });
    const plain = client({ baseUrls: [slow.url, fast.url], breaker: false, retry: false });
    expect((await plain.get('/users/1')).json()).toEqual({ from: 'slow' });
    expect(fast.seen).toHaveLength(0);
  });
});
