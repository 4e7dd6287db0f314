import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inboundFaults } from './fastify-plugin.ts';
import { mergePatch } from './http-rewrite.ts';
import { FaultRuntime } from './runtime.ts';

const runtime = new FaultRuntime();
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  app = Fastify();
  await app.register(inboundFaults, { runtime });
  // Echoes what the route saw, so a test sees what the rewrite did to the request.
  const echo = async (req: {
    method: string;
    url: string;
    headers: Record<string, unknown>;
    body?: unknown;
    query: unknown;
  }) => ({
    route: req.url.split('?')[0],
    method: req.method,
    query: req.query,
    flag: req.headers['x-flag'] ?? null,
    body: req.body ?? null,
  });
  app.get('/a', echo);
  app.get('/b', echo);
  app.post('/a', echo);
  app.delete('/a', echo);
  app.get('/profile', async (_req, reply) => {
    reply.header('x-version', '1');
    return { name: 'Ada', role: 'user' };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterEach(() => runtime.recoverAll());
afterAll(() => app.close());

async function call(
  path: string,
  init: { method?: 'GET' | 'POST' | 'DELETE'; body?: string; headers?: Record<string, string> } = {},
) {
  const res = await request(`${base}${path}`, {
    method: init.method ?? 'GET',
    body: init.body,
    headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined, text };
}

describe('HTTPChaos replace and patch (inbound, before routing)', () => {
  it('replaces the path, method and queries of a request: it reaches the other route', async () => {
    await runtime.apply(
      'r',
      'http-rewrite',
      { target: 'request', path: '/a', replace: { path: '/b', queries: { page: '9' } } },
      60_000,
    );
    expect((await call('/a?page=1&x=2')).json).toMatchObject({
      route: '/b',
      method: 'GET',
      query: { page: '9', x: '2' },
    });
    // Another path is not matched: untouched.
    expect((await call('/b?page=1')).json).toMatchObject({ route: '/b', query: { page: '1' } });
    const effect = runtime.effect('r')!;
    expect(effect).toMatchObject({ took: true, figures: { seen: 2, affected: 1, rewritten: 1 } });
    expect(effect.summary).toBe('rewrote the request of 1 of 2 requests (1 rewritten)');
  });

  it('replaces the method: a GET becomes a DELETE', async () => {
    await runtime.apply(
      'm',
      'http-rewrite',
      { target: 'request', method: 'GET', replace: { method: 'delete' } },
      60_000,
    );
    expect((await call('/a')).json).toMatchObject({ method: 'DELETE' });
  });

  it('replaces and patches headers, and merge-patches a JSON body', async () => {
    await runtime.apply(
      'h',
      'http-rewrite',
      {
        target: 'request',
        method: 'POST',
        replace: { headers: { 'X-Flag': 'on' } },
        patch: { body: { type: 'JSON', value: '{"age":null,"extra":{"k":1}}' } },
      },
      60_000,
    );
    const r = await call('/a', { method: 'POST', body: JSON.stringify({ name: 'Ada', age: 36, extra: { j: 0 } }) });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ flag: 'on', body: { name: 'Ada', extra: { j: 0, k: 1 } } });
    expect(r.json.body).not.toHaveProperty('age');
  });

  it('replaces a request body whole (base64, as Chaos Mesh takes it)', async () => {
    const body = Buffer.from('{"replaced":true}').toString('base64');
    await runtime.apply('b', 'http-rewrite', { target: 'request', replace: { body } }, 60_000);
    expect((await call('/a', { method: 'POST', body: '{"original":true}' })).json).toMatchObject({
      body: { replaced: true },
    });
  });

  it('rewrites a response: status, header replaced and appended, body patched', async () => {
    await runtime.apply(
      's',
      'http-rewrite',
      {
        target: 'response',
        path: '/profile',
        replace: { code: 203, headers: { 'x-version': '2' } },
        patch: { headers: [['x-chaos', 'patched']], body: { type: 'JSON', value: '{"role":"admin"}' } },
      },
      60_000,
    );
    const r = await call('/profile');
    expect(r.status).toBe(203);
    expect(r.headers['x-version']).toBe('2');
    expect(r.headers['x-chaos']).toBe('patched');
    expect(r.json).toEqual({ name: 'Ada', role: 'admin' });
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.text));
    expect(runtime.effect('s')).toMatchObject({ took: true, figures: { rewritten: 1 } });
  });

  it('is gone after recovery, and a fault whose path is never called did not take', async () => {
    await runtime.apply('gone', 'http-rewrite', { target: 'response', path: '/never', replace: { code: 500 } }, 60_000);
    expect((await call('/profile')).status).toBe(200);
    expect(runtime.effect('gone')).toMatchObject({ took: false, figures: { seen: 1, affected: 0, rewritten: 0 } });
    await runtime.apply('x', 'http-rewrite', { target: 'response', replace: { code: 500 } }, 60_000);
    expect((await call('/profile')).status).toBe(500);
    await runtime.recover('x');
    expect((await call('/profile')).status).toBe(200);
  });

  it('refuses specs that name a field wrongly, saying which', async () => {
    await expect(runtime.apply('e', 'http-rewrite', { target: 'request' }, 1000)).rejects.toThrow(
      'http-rewrite: spec.replace or patch is required: what to rewrite',
    );
    await expect(
      runtime.apply('e', 'http-rewrite', { target: 'request', replace: { code: 500 } }, 1000),
    ).rejects.toThrow(
      /spec.replace.code is not a field of http-rewrite; valid fields: path, method, headers, queries, body/,
    );
    await expect(
      runtime.apply('e', 'http-rewrite', { target: 'response', patch: { headers: [['only-name']] } }, 1000),
    ).rejects.toThrow('http-rewrite: spec.patch.headers must be a list of [name, value] pairs of strings');
    await expect(
      runtime.apply('e', 'http-rewrite', { target: 'response', patch: { body: { type: 'JSON', value: '{' } } }, 1000),
    ).rejects.toThrow(/spec.patch.body.value must be a JSON document/);
    expect(runtime.size).toBe(0);
  });
});

describe('mergePatch (RFC 7396)', () => {
  it('follows the RFC examples', () => {
    // RFC 7396 appendix A, a selection.
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(mergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(mergePatch({ a: 'foo' }, 'bar')).toEqual('bar');
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(mergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});
