import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@nova/local-postgres';
import { createLogger } from '@nova/telemetry';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { request } from 'undici';
import { Config } from './config.ts';
import { createPool, migrate, pingDatabase } from './db.ts';
import { HttpError, unavailable } from './http-error.ts';
import { createServiceApp } from './service-app.ts';
import { createUpstream } from './upstream.ts';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ConcurrencyLimitError,
  requestDeadline,
  TimeoutError,
} from '@nova/resilience';

describe('Config', () => {
  it('reads values and names the variable and the valid range in every error', () => {
    const c = new Config({
      PORT: '8080',
      BAD: 'x',
      URLS: 'http://127.0.0.1:1, http://127.0.0.1:2/',
      WRONG: 'localhost:1',
    });
    expect(c.int('PORT', 1)).toBe(8080);
    expect(c.int('MISSING', 7)).toBe(7);
    expect(() => c.int('BAD', 1, { max: 10 })).toThrow('configuration: BAD=x must be an integer between 0 and 10');
    expect(() => c.string('NOPE')).toThrow('configuration: NOPE is required');
    expect(c.urls('URLS')).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2/']);
    expect(() => c.urls('WRONG')).toThrow(/WRONG entry "localhost:1" must be an http\(s\) origin/);
    expect(c.optional('NOPE')).toBeUndefined();
  });
});

describe('migrate', () => {
  const pools: Array<ReturnType<typeof createPool>> = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
  });

  it('applies each migration once, in order, and rolls back a failing one', async () => {
    const pool = createPool(await createTestDatabase(inject('postgresUrl'), 'kit'));
    pools.push(pool);
    await pingDatabase(pool);
    const m1 = { id: '001', sql: 'CREATE TABLE t (x int)' };
    const m2 = { id: '002', sql: 'ALTER TABLE t ADD COLUMN y int' };
    // Two replicas starting together: the advisory lock serialises them.
    const [a, b] = await Promise.all([migrate(pool, 'kit', [m1, m2]), migrate(pool, 'kit', [m1, m2])]);
    expect([...a, ...b].sort()).toEqual(['001', '002']);
    const bad = { id: '003', sql: 'ALTER TABLE t ADD COLUMN z int; SELECT nonsense FROM nowhere' };
    await expect(migrate(pool, 'kit', [m1, m2, bad])).rejects.toThrow(/migration kit\/003 failed/);
    const cols = await pool.query(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'kit' AND table_name = 't'",
    );
    expect(cols.rows.map((r) => r.column_name).sort()).toEqual(['x', 'y']);
    await expect(migrate(pool, 'Bad Schema', [])).rejects.toThrow(/invalid schema name/);
  });

  it('survives the server dropping an idle connection (a restart): reported, and the next query works', async () => {
    const url = await createTestDatabase(inject('postgresUrl'), 'kit_drop');
    const lost: Error[] = [];
    const pool = createPool(url, {}, (e) => lost.push(e));
    pools.push(pool);
    const pid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    // Another connection ends that idle backend, as a restarting server ends them all.
    const admin = createPool(url);
    pools.push(admin);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const deadline = Date.now() + 5_000;
    while (lost.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lost[0]?.message).toMatch(/terminat/);
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('createServiceApp', () => {
  it('maps errors to clear JSON answers and never leaks internals', async () => {
    const app = createServiceApp({ name: 't', telemetry: false });
    app.get('/teapot', async () => {
      throw new HttpError(418, 'short and stout', { 'x-why': 'tea' });
    });
    app.get('/busy', async () => {
      throw unavailable('try later', 2.2);
    });
    app.get('/full', async () => {
      throw unavailable('at capacity', 1, 'RES_ERR_BULKHEAD_FULL');
    });
    app.post('/echo', async (request) => request.body);
    app.get('/bug', async () => {
      throw new Error('secret connection string postgres://u:p@db');
    });
    const teapot = await app.inject('/teapot');
    expect([teapot.statusCode, teapot.headers['x-why'], teapot.json().error]).toEqual([418, 'tea', 'short and stout']);
    const busy = await app.inject('/busy');
    expect([busy.statusCode, busy.headers['retry-after'], busy.json()]).toEqual([503, '3', { error: 'try later' }]);
    const full = await app.inject('/full');
    expect(full.json()).toEqual({ error: 'at capacity', code: 'RES_ERR_BULKHEAD_FULL' });
    const bug = await app.inject('/bug');
    expect(bug.statusCode).toBe(500);
    expect(bug.body).not.toContain('secret');
    const bad = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/JSON/);
    expect(bad.body).not.toMatch(/at .*\.js/);
    await app.close();
  });

  it('answers 503 with Retry-After and the stable code when a resilience policy turned the work away', async () => {
    const app = createServiceApp({ name: 't', telemetry: false });
    const thrown = {
      breaker: BrokenCircuitError.preallocated(),
      bulkhead: BulkheadRejectedError.stackless(2, 8),
      limit: ConcurrencyLimitError.preallocated(),
      // A timeout is a failure of the work, not a refusal to do it: it stays a 500.
      timeout: new TimeoutError(50),
    };
    for (const [name, error] of Object.entries(thrown))
      app.get(`/${name}`, async () => {
        throw error;
      });
    const answer = async (name: string) => {
      const res = await app.inject(`/${name}`);
      return [res.statusCode, res.headers['retry-after'], res.json().code];
    };
    expect(await answer('breaker')).toEqual([503, '1', 'RES_ERR_CIRCUIT_OPEN']);
    expect(await answer('bulkhead')).toEqual([503, '1', 'RES_ERR_BULKHEAD_FULL']);
    expect(await answer('limit')).toEqual([503, '1', 'RES_ERR_CONCURRENCY_LIMIT']);
    expect(await answer('timeout')).toEqual([500, undefined, undefined]);
    await app.close();
  });

  it('reports not ready, with the reason, when a check fails or hangs', async () => {
    const app = createServiceApp({ name: 't', telemetry: false, readinessTimeoutMs: 50 });
    app.service.addReadinessCheck({ name: 'ok', check: async () => {} });
    app.service.addReadinessCheck({ name: 'broken', check: async () => Promise.reject(new Error('refused')) });
    app.service.addReadinessCheck({ name: 'hung', check: () => new Promise(() => {}) });
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json().checks).toEqual([
      { name: 'ok', ok: true },
      { name: 'broken', ok: false, error: 'refused' },
      { name: 'hung', ok: false, error: 'no answer within 50 ms' },
    ]);
    await app.close();
  });

  it('runs each request in a span continuing the caller trace, visible to outgoing calls and in its logs', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const app = createServiceApp({ name: 't', telemetry: true, logger: createLogger('t', { level: 'info' }, sink) });
    app.get('/trace', async (request) => {
      request.log.info('handling');
      request.log.child({ step: 'child' }).warn('from a child logger');
      return request.traceHeaders();
    });
    const res = await app.inject({
      url: '/trace',
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    const traceparent: string = res.json().traceparent;
    expect(traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'handling');
    const ids = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: traceparent.split('-')[2] };
    expect(line).toMatchObject(ids);
    expect(lines.map((l) => JSON.parse(l)).find((l) => l.step === 'child')).toMatchObject(ids);
    // Lines of the app's own logger, outside any request, carry none.
    app.log.info('outside');
    expect(JSON.parse(lines.at(-1)!)).not.toHaveProperty('trace_id');
    await app.close();
  });
});

describe('deadlines', () => {
  it('forwards what is left of the caller budget upstream, with its name as User-Agent, and answers 504 when it runs out', async () => {
    const back = createServiceApp({ name: 'back', telemetry: false });
    back.get('/budget', async (request) => ({
      got: Number(request.headers['x-request-deadline-ms']),
      caller: request.headers['user-agent'],
    }));
    back.get('/hang', () => new Promise(() => undefined));
    const backUrl = await back.listen({ host: '127.0.0.1', port: 0 });
    const front = createServiceApp({ name: 'front', telemetry: false });
    const upstream = createUpstream(front, { name: 'back', baseUrls: backUrl, requiredForReadiness: false });
    front.get('/relay', async (request) => {
      await new Promise((r) => setTimeout(r, 50));
      return (await upstream.get('/budget', { deadline: requestDeadline(request) })).json();
    });
    front.get('/hang', async (request) => (await upstream.get('/hang', { deadline: requestDeadline(request) })).json());
    const relayed = await front.inject({ url: '/relay', headers: { 'x-request-deadline-ms': '1000' } });
    const { got, caller } = relayed.json<{ got: number; caller: string }>();
    // Every call names its caller (the upstream's logs, and faults that pick one caller's requests).
    expect(caller).toBe('front');
    expect(got).toBeLessThanOrEqual(950);
    expect(got).toBeGreaterThan(600);
    const start = performance.now();
    const hung = await front.inject({ url: '/hang', headers: { 'x-request-deadline-ms': '200' } });
    expect(hung.statusCode).toBe(504);
    expect(hung.json().code).toBe('RES_ERR_DEADLINE_EXCEEDED');
    expect(performance.now() - start).toBeLessThan(1_500);
    await front.close();
    await back.close();
  });
});

describe('resilience events', () => {
  it("counts every policy's events in resilience_events_total by kind and policy name", async () => {
    const app = createServiceApp({ name: 'ev', telemetry: 'metrics' });
    // Port 9 on loopback: nothing listens, every attempt is refused at once.
    const upstream = createUpstream(app, {
      name: 'nowhere',
      baseUrls: 'http://127.0.0.1:9',
      requiredForReadiness: false,
    });
    app.get('/call', async () =>
      upstream.get('/').then(
        () => 'answered',
        () => 'failed',
      ),
    );
    expect((await app.inject({ url: '/call' })).body).toBe('failed');
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/resilience_events_total\{service="ev",kind="retry",policy="nowhere"\} 2/);
    await app.close();
  });
});

describe('runService', () => {
  it('drains in-flight requests on SIGTERM, refuses new ones, runs onClose and exits 0', async () => {
    const fixture = fileURLToPath(new URL('../test/fixtures/slow-service.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', fixture], {
      env: { ...process.env, SLOW_MS: '600', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /LISTENING (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}: ${out}`)));
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const inFlight = request(`${address}/slow`);
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ done: true });
    expect(await exited).toBe(0);
    expect(out).toContain('ON_CLOSE');
    await expect(request(`${address}/slow`)).rejects.toThrow();
  });
});
