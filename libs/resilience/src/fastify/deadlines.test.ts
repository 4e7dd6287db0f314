import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ambientDeadline } from '../deadline-context.ts';
import { ErrorCodes } from '../errors.ts';
import { onResilienceEvent, type ResilienceEvent } from '../events.ts';
import { createHttpClient } from '../http/http-client.ts';
import { timeout } from '../timeout.ts';
import { deadlines, requestDeadline, requestDeadlineSignal, type DeadlinesOptions } from './deadlines.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function app(options: DeadlinesOptions = {}): Promise<FastifyInstance> {
  const a = Fastify();
  apps.push(a);
  await a.register(deadlines, options);
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('deadlines plugin', () => {
  it('carries the caller’s budget into the handler, through body parsing, to every policy inside', async () => {
    const a = await app();
    a.post('/work', async (request) => {
      const left = requestDeadline(request) - performance.now();
      const policyDeadline = await timeout(60_000).execute((ctx) => ctx.deadline);
      return {
        left,
        ambient: ambientDeadline() === requestDeadline(request),
        policyDeadline: policyDeadline === requestDeadline(request),
      };
    });
    const res = await a.inject({
      method: 'POST',
      url: '/work',
      headers: { 'x-request-deadline-ms': '800' },
      payload: { some: 'body' },
    });
    const body = res.json();
    expect(res.statusCode).toBe(200);
    expect(body.left).toBeGreaterThan(600);
    expect(body.left).toBeLessThanOrEqual(800);
    expect(body.ambient).toBe(true);
    expect(body.policyDeadline).toBe(true);
  });

  it("honours gRPC's grpc-timeout", async () => {
    const a = await app();
    a.get('/', async (request) => ({ left: requestDeadline(request) - performance.now() }));
    const res = await a.inject({ url: '/', headers: { 'grpc-timeout': '2S' } });
    expect(res.json().left).toBeGreaterThan(1_800);
    expect(res.json().left).toBeLessThanOrEqual(2_000);
  });

  it('answers 504 without running the handler when the request arrives with no time left', async () => {
    const a = await app();
    let ran = false;
    a.get('/', async () => {
      ran = true;
      return 'ran';
    });
    const res = await a.inject({ url: '/', headers: { 'x-request-deadline-ms': '0' } });
    expect(res.statusCode).toBe(504);
    expect(res.json().code).toBe(ErrorCodes.DEADLINE_EXCEEDED);
    expect(ran).toBe(false);
  });

  it('answers 504 at the deadline for a handler that has not, and aborts the work still running', async () => {
    const a = await app();
    let signal: AbortSignal | undefined;
    let policyOutcome: Promise<unknown> | undefined;
    a.get('/slow', async (request) => {
      signal = requestDeadlineSignal(request);
      policyOutcome = timeout(60_000)
        .execute(({ signal: s }) => new Promise((_r, reject) => s.addEventListener('abort', () => reject(s.reason))))
        .catch((e: unknown) => (e as { code?: string }).code);
      await new Promise(() => undefined); // work that is not behind any policy and never ends
    });
    const start = performance.now();
    const res = await a.inject({ url: '/slow', headers: { 'x-request-deadline-ms': '150' } });
    const took = performance.now() - start;
    expect(res.statusCode).toBe(504);
    expect(res.json().code).toBe(ErrorCodes.DEADLINE_EXCEEDED);
    expect(took).toBeGreaterThanOrEqual(145);
    expect(took).toBeLessThan(1_000);
    expect(signal?.aborted).toBe(true);
    expect(await policyOutcome).toBe(ErrorCodes.DEADLINE_EXCEEDED);
  });

  it("lets a handler answer for itself in the moment after the deadline (its own error handler's 504)", async () => {
    const a = await app();
    a.setErrorHandler((error: { code?: string }, _request, reply) => reply.code(504).send({ own: error.code }));
    a.get('/slow', async () => timeout(60_000).execute(() => new Promise(() => undefined)));
    const res = await a.inject({ url: '/slow', headers: { 'x-request-deadline-ms': '100' } });
    expect(res.statusCode).toBe(504);
    expect(res.json()).toEqual({ own: ErrorCodes.DEADLINE_EXCEEDED });
  });

  it('leaves a request without a budget alone, or gives it defaultBudgetMs', async () => {
    const none = await app();
    none.get('/', async (request) => ({ d: String(requestDeadline(request)), a: String(ambientDeadline()) }));
    expect((await none.inject({ url: '/' })).json()).toEqual({ d: 'Infinity', a: 'Infinity' });
    const withDefault = await app({ defaultBudgetMs: 300, maxBudgetMs: 1_000 });
    withDefault.get('/', async (request) => ({ left: requestDeadline(request) - performance.now() }));
    const left = (await withDefault.inject({ url: '/' })).json().left;
    expect(left).toBeGreaterThan(200);
    expect(left).toBeLessThanOrEqual(300);
    const capped = (await withDefault.inject({ url: '/', headers: { 'x-request-deadline-ms': '60000' } })).json().left;
    expect(capped).toBeLessThanOrEqual(1_000);
  });

  it('with ambient: false sets the request deadline but no async context', async () => {
    const a = await app({ ambient: false });
    a.get('/', async (request) => ({ d: requestDeadline(request) !== Infinity, a: String(ambientDeadline()) }));
    const res = await a.inject({ url: '/', headers: { 'x-request-deadline-ms': '500' } });
    expect(res.json()).toEqual({ d: true, a: 'Infinity' });
  });

  it('refuses a nonsense option at registration, naming it', async () => {
    const a = Fastify();
    apps.push(a);
    await expect(a.register(deadlines, { defaultBudgetMs: -5 })).rejects.toThrow(/defaultBudgetMs/);
  });

  it('end to end over loopback: the next service receives what is left of the budget', async () => {
    const back = await app();
    back.get('/budget', async (request) => ({ got: Number(request.headers['x-request-deadline-ms']) }));
    const backUrl = await back.listen({ host: '127.0.0.1', port: 0 });
    const client = createHttpClient({ baseUrls: backUrl, name: 'back' });
    const front = await app();
    front.get('/', async () => {
      await sleep(100);
      return (await client.get('/budget')).json();
    });
    const res = await front.inject({ url: '/', headers: { 'x-request-deadline-ms': '1000' } });
    client.close();
    const got = (res.json() as { got: number }).got;
    expect(got).toBeLessThanOrEqual(900);
    expect(got).toBeGreaterThan(500);
  });
});

describe('deadlines plugin details', () => {
  it('with answerAtDeadline: false leaves the answer to the handler, past the deadline too', async () => {
    const a = await app({ answerAtDeadline: false });
    a.get('/late', async (request) => {
      await sleep(120);
      return { aborted: requestDeadlineSignal(request)?.aborted };
    });
    const res = await a.inject({ url: '/late', headers: { 'x-request-deadline-ms': '50' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ aborted: true });
  });

  it('hands out an already aborted signal when read after the deadline, and none without a deadline', async () => {
    const a = await app({ answerAtDeadline: false });
    a.get('/read-late', async (request) => {
      await sleep(80);
      const s = requestDeadlineSignal(request)!;
      return { aborted: s.aborted, code: (s.reason as { code?: string }).code };
    });
    a.get('/none', async (request) => ({ signal: requestDeadlineSignal(request) === undefined }));
    const late = await a.inject({ url: '/read-late', headers: { 'x-request-deadline-ms': '30' } });
    expect(late.json()).toEqual({ aborted: true, code: ErrorCodes.DEADLINE_EXCEEDED });
    expect((await a.inject({ url: '/none' })).json()).toEqual({ signal: true });
  });

  it('refuses a non-positive maxBudgetMs, naming it', async () => {
    const a = Fastify();
    apps.push(a);
    await expect(a.register(deadlines, { maxBudgetMs: 0 })).rejects.toThrow(
      'deadlines: maxBudgetMs must be a positive number of ms, got 0',
    );
  });

  it('stops its clock once the request is answered: the signal of an answered request never aborts', async () => {
    const a = await app();
    let signal: AbortSignal | undefined;
    a.get('/', async (request) => {
      signal = requestDeadlineSignal(request);
      return 'ok';
    });
    await a.inject({ url: '/', headers: { 'x-request-deadline-ms': '40' } });
    await sleep(100);
    expect(signal?.aborted).toBe(false);
  });

  it('reports each deadline exceeded as an event: on arrival (handler not run) and in flight, with its name', async () => {
    const seen: ResilienceEvent[] = [];
    const sub = onResilienceEvent((e) => seen.push(e));
    try {
      const a = await app({ name: 'front' });
      a.get('/slow', async () => new Promise(() => undefined));
      a.get('/fast', async () => 'ok');
      await a.inject({ url: '/fast', headers: { 'x-request-deadline-ms': '0' } });
      await a.inject({ url: '/slow', headers: { 'x-request-deadline-ms': '30' } });
      await a.inject({ url: '/fast', headers: { 'x-request-deadline-ms': '30' } });
      await sleep(50);
      expect(seen).toEqual([
        { kind: 'deadline-exceeded', policy: 'front', stage: 'arrival', budgetMs: 0 },
        { kind: 'deadline-exceeded', policy: 'front', stage: 'in-flight', budgetMs: 30 },
      ]);
      // A handler answering its own 504 at the deadline, before the plugin's timer: counted once all the same.
      const own = await app({ name: 'own' });
      own.setErrorHandler((_e, _r, reply) => reply.code(504).send('own'));
      own.get('/', async () => timeout(60_000).execute(() => new Promise(() => undefined)));
      await own.inject({ url: '/', headers: { 'x-request-deadline-ms': '20' } });
      await sleep(30);
      expect(seen.filter((e) => e.policy === 'own')).toHaveLength(1);
      const unnamed = await app();
      await unnamed.inject({ url: '/', headers: { 'x-request-deadline-ms': '0' } });
      expect(seen.at(-1)?.policy).toBe('request-deadline');
    } finally {
      sub.dispose();
    }
  });
});
