import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from '@readme/openapi-parser';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerAudit } from '../plan/policy.ts';
import { ApiErrorCodes } from './errors.ts';
import { startApi, type RunningApi } from './server.ts';
import { fakeRunner, httpAbortYaml, type RunnerCalls } from './test-doubles.ts';

const TOKEN = 'tok-0123456789';
let api: RunningApi;
let runner: ReturnType<typeof fakeRunner>;
let auditFile: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-routes-'));
  auditFile = join(dir, 'audit.jsonl');
  runner = fakeRunner();
  api = await startApi({
    runner,
    audit: new ControllerAudit(auditFile, 'test'),
    token: TOKEN,
    htpasswd: `admin:${bcrypt.hashSync('pw', 4)}\n`,
    suite: [],
    sessions: { idleMs: 60_000 },
  });
});
afterAll(async () => api?.close());

const bearer = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = bearer) =>
  fetch(`${api.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { error?: string };
const audit = () =>
  readFileSync(auditFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; subject: string; result: string; detail: string });

describe('the OpenAPI document', () => {
  it('is served at /api/v1/openapi.json without credentials and validates as OpenAPI 3', async () => {
    const res = await fetch(`${api.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.0.3');
    await expect(validate(structuredClone(doc) as never)).resolves.toMatchObject({ valid: true });
    for (const path of ['/api/v1/experiments', '/api/v1/schedules/{id}/pause', '/api/v1/session'])
      expect(Object.keys(doc.paths)).toContain(path);
  });

  it('answers every documented body with a 400 naming the field when a field is unknown or mistyped', async () => {
    const doc = (await (await fetch(`${api.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
    };
    type Schema = { properties?: Record<string, { type: string }>; required?: string[] };
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const schema = op.requestBody?.content['application/json']?.schema;
        if (!schema) continue;
        const url = path.replace('{id}', 'x');
        const headers = { ...bearer, 'x-nova-csrf': '1' };
        // Required fields present (so the unknown one is the only problem), then one field of the wrong type.
        const required = Object.fromEntries((schema.required ?? []).map((f) => [f, 'x']));
        const unknown = await call(method.toUpperCase(), url, { ...required, bogusField: 1 }, headers);
        expect([url, unknown.status]).toEqual([url, 400]);
        expect(await json(unknown)).toMatchObject({
          error: expect.stringMatching(/^body.bogusField: not a known field/),
          code: ApiErrorCodes.INVALID_REQUEST,
        });
        const [field, { type }] = Object.entries(schema.properties ?? {})[0]!;
        const mistyped = await call(
          method.toUpperCase(),
          url,
          { ...required, [field]: type === 'string' ? 42 : 'x' },
          headers,
        );
        expect([url, mistyped.status]).toEqual([url, 400]);
        expect((await json(mistyped)).error).toMatch(new RegExp(`^body\\.${field}: must be`));
        const notJson = await fetch(`${api.url}${url}`, { method: method.toUpperCase(), headers, body: '{"yaml": ' });
        expect([url, notJson.status]).toEqual([url, 400]);
        checked++;
      }
    }
    expect(checked).toBe(4); // POST experiments, schedules, schedules/preview and session (login)
  });
});

describe('error answers', () => {
  it('carry a stable code beside the message', async () => {
    expect(await json(await call('GET', '/api/v1/experiments/api-nothing'))).toEqual({
      error: 'no experiment api-nothing',
      code: ApiErrorCodes.NOT_FOUND,
    });
    expect(await json(await call('GET', '/api/v1/experiments', undefined, {}))).toMatchObject({
      code: ApiErrorCodes.UNAUTHENTICATED,
    });
    const invalid = await json(await call('POST', '/api/v1/experiments', { yaml: 'kind: PodChaos\n' }));
    expect(invalid).toMatchObject({ code: ApiErrorCodes.INVALID_REQUEST, issues: expect.any(Array) });
  });
});

describe('dashboard sessions', () => {
  const login = (body: unknown, headers: Record<string, string> = { 'x-nova-csrf': '1' }) =>
    fetch(`${api.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('opens an HttpOnly SameSite=Strict session at login, keeps the CSRF rule, and ends it at logout', async () => {
    expect((await login({ username: 'admin', password: 'wrong' })).status).toBe(401);
    // A login without the CSRF header is refused: a cross-site form cannot log a browser in (login CSRF).
    expect((await login({ username: 'admin', password: 'pw' }, {})).status).toBe(403);
    const res = await login({ username: 'admin', password: 'pw' });
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^nova_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Strict$/);
    const cookie = { cookie: setCookie.split(';')[0]! };
    expect(await json(await call('GET', '/api/v1/session', undefined, cookie))).toEqual({
      actor: 'admin',
      session: true,
    });
    // A cookie is sent by the browser by itself: a mutation needs the CSRF proof, as with Basic.
    expect((await call('POST', '/api/v1/experiments', { yaml: httpAbortYaml('5s') }, cookie)).status).toBe(403);
    const started = await call(
      'POST',
      '/api/v1/experiments',
      { yaml: httpAbortYaml('5s') },
      { ...cookie, 'x-nova-csrf': '1', 'content-type': 'application/json' },
    );
    expect(started.status).toBe(201);
    const id = (await json(started))['id'] as string;
    expect(audit().find((a) => a.action === 'api-start' && a.subject.startsWith(id))?.detail).toBe('by admin');
    const out = await call('DELETE', '/api/v1/session', undefined, { ...cookie, 'x-nova-csrf': '1' });
    expect(await json(out)).toEqual({ loggedOut: true });
    expect(out.headers.get('set-cookie')).toMatch(/^nova_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970/);
    expect((await call('GET', '/api/v1/session', undefined, cookie)).status).toBe(401);
    expect(audit().filter((a) => a.action === 'api-login' || a.action === 'api-logout')).toEqual([
      expect.objectContaining({ action: 'api-login', result: 'denied' }),
      expect.objectContaining({ action: 'api-login', subject: 'admin', result: 'ok' }),
      expect.objectContaining({ action: 'api-logout', subject: 'admin', result: 'ok' }),
    ]);
    await call('DELETE', `/api/v1/experiments/${id}`);
  });

  it('logs in with the token too; a forged cookie is no session', async () => {
    const res = await login({ token: TOKEN });
    expect(await json(res)).toMatchObject({ actor: 'api-token' });
    expect((await call('GET', '/api/v1/session', undefined, { cookie: 'nova_session=forged' })).status).toBe(401);
  });
});

describe('the dashboard shell', () => {
  it('is served without credentials (it holds no data); the libraries are single files from node_modules', async () => {
    const page = await fetch(`${api.url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const src of [...html.matchAll(/"(\/vendor\/[^"]+)"/g)].map((m) => m[1]!)) {
      const lib = await fetch(`${api.url}${src}`);
      expect([src, lib.status]).toEqual([src, 200]);
    }
    expect((await fetch(`${api.url}/vendor/preact/preact.js`)).status).toBe(404);
    expect((await fetch(`${api.url}/app.js`)).headers.get('content-type')).toMatch(/javascript/);
  });
});

describe('Schedules through the API', () => {
  const schedule = (every: string) =>
    [
      'apiVersion: chaos-mesh.org/v1alpha1',
      'kind: Schedule',
      'metadata:',
      '  name: every-second',
      'spec:',
      `  schedule: "@every ${every}"`,
      '  concurrencyPolicy: Forbid',
      '  historyLimit: 5',
      '  type: HTTPChaos',
      '  httpChaos:',
      ...httpAbortYaml('30s')
        .split('\n')
        .slice(5)
        .map((l) => `  ${l}`),
    ].join('\n');
  const until = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await read();
      if (ok(v) || Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  type View = { state: string; children: Array<{ name: string; experimentId?: string; phase: string }> };
  const view = async (): Promise<View> => (await json(await call('GET', '/api/v1/schedules/every-second'))) as never;
  const injects = (calls: RunnerCalls['calls']) => calls.filter((c) => c.op === 'inject').length;

  it('spawns a child per tick; pause recovers the child and spawns nothing; resume re-injects; stop ends all', async () => {
    expect((await call('POST', '/api/v1/experiments', { yaml: schedule('1s') })).status).toBe(400);
    const started = await call('POST', '/api/v1/schedules', { yaml: schedule('1s') });
    expect(started.status).toBe(201);
    expect(await json(started)).toMatchObject({ name: 'every-second', state: 'running', next: expect.any(Array) });
    expect((await call('POST', '/api/v1/schedules', { yaml: schedule('1s') })).status).toBe(409);
    const running = await until(view, (v) => v.children.some((c) => c.phase === 'injected'));
    expect(running.children).toEqual([
      {
        name: expect.stringMatching(/^every-second-[a-z0-9]{5}$/),
        experimentId: expect.any(String),
        phase: 'injected',
      },
    ]);
    const child = running.children[0]!.experimentId!;
    expect((await json(await call('GET', `/api/v1/experiments/${child}`)))['schedule']).toBe('every-second');

    const paused = (await json(await call('POST', '/api/v1/schedules/every-second/pause'))) as unknown as View;
    expect(paused).toMatchObject({ state: 'paused', next: [], children: [{ phase: 'paused' }] });
    expect(runner.calls.at(-1)).toEqual({ op: 'recover', uid: child });
    const before = injects(runner.calls);
    await new Promise((r) => setTimeout(r, 2_200)); // two ticks' time: nothing spawns or re-injects while paused
    expect(injects(runner.calls)).toBe(before);
    expect((await view()).children).toHaveLength(1);
    expect((await call('POST', '/api/v1/schedules/every-second/pause')).status).toBe(409);

    const resumed = (await json(await call('POST', '/api/v1/schedules/every-second/resume'))) as unknown as View;
    expect(resumed).toMatchObject({ state: 'running', children: [{ phase: 'injected' }] });
    expect(runner.calls.at(-1)).toMatchObject({ op: 'inject', uid: child });
    // Forbid: the child still runs (30 s), so the next ticks spawn nothing.
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await view()).children).toHaveLength(1);

    const stopped = (await json(await call('DELETE', '/api/v1/schedules/every-second'))) as unknown as View;
    expect(stopped).toMatchObject({ state: 'stopped', children: [{ phase: 'recovered' }] });
    expect((await call('DELETE', '/api/v1/schedules/every-second')).status).toBe(200);
    expect(audit().map((a) => a.action)).toEqual(
      expect.arrayContaining(['api-schedule-start', 'api-schedule-pause', 'api-schedule-resume', 'api-schedule-stop']),
    );
    expect((await call('POST', '/api/v1/schedules/nothing/pause')).status).toBe(404);
  }, 20_000);
});

describe('unauthenticated callers', () => {
  it('are rate-limited per address (429 with the code), while authenticated ones are not', async () => {
    const limited = await startApi({
      runner: fakeRunner(),
      audit: new ControllerAudit(join(mkdtempSync(join(tmpdir(), 'nova-rl-')), 'audit.jsonl'), 'test'),
      token: TOKEN,
      suite: [],
      anonymousPerMinute: 5,
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await fetch(`${limited.url}/api/v1/experiments`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      const refused = await fetch(`${limited.url}/api/v1/experiments`);
      expect(await json(refused)).toMatchObject({ code: ApiErrorCodes.RATE_LIMITED });
      for (let i = 0; i < 10; i++)
        expect((await fetch(`${limited.url}/api/v1/experiments`, { headers: bearer })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
