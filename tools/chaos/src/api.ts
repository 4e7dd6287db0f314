import { timingSafeEqual, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { CHAOS_KINDS, formatIssue, loadResources, parseResources, type ChaosResource, type Resource } from '@nova/chaos-spec';
import type { ControllerAudit } from './policy.ts';
import type { Runner } from './runner.ts';

/** One experiment started through the API. */
export interface ApiExperiment {
  id: string;
  name: string;
  kind: string;
  phase: 'scheduled' | 'injected' | 'recovered' | 'failed';
  startedAt: string | undefined;
  endsAt: string | undefined;
  recoveredAt: string | undefined;
  faults: Array<{ target: string; kind: string }>;
  error?: string;
}

/** Options of {@link startApi}. */
export interface ApiOptions {
  runner: Runner;
  audit: ControllerAudit;
  token: string;
  /** Directories or files of named experiments (`{"name": ...}`). */
  suite: string[];
  host?: string;
  port?: number;
  /** Longest fault the API starts, in ms. Default 10 minutes. */
  maxDurationMs?: number;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 256 * 1024) throw new HttpProblem(413, 'request body larger than 256 KiB');
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new HttpProblem(400, 'the body must be a JSON object such as {"name": "network-delay-auth"} or {"yaml": "..."}');
  }
}

/**
 * The controller's REST API (`chaos up` serves it; token-protected; documented in tools/chaos/README.md):
 * start a chaos experiment from YAML or by name from the suite, read its status, stop it. Stopping is
 * idempotent, and every fault it starts carries the agent's lease (duration + 2 s), so a client that dies
 * (a SIGKILLed k6) leaves nothing behind.
 */
export async function startApi(options: ApiOptions): Promise<{ server: Server; url: string; experiments: Map<string, ApiExperiment>; close(): Promise<void> }> {
  const experiments = new Map<string, ApiExperiment>();
  const timers = new Map<string, NodeJS.Timeout[]>();
  const expected = Buffer.from(`Bearer ${options.token}`);
  const maxDurationMs = options.maxDurationMs ?? 600_000;
  const named = (): Map<string, Resource> => new Map(loadResources(options.suite).map((r) => [r.metadata.name, r]));

  function resolveResource(b: Record<string, unknown>): ChaosResource {
    let resources: Resource[];
    if (typeof b['yaml'] === 'string') {
      const parsed = parseResources(b['yaml'], 'request.yaml');
      if (parsed.issues.length) throw new HttpProblem(400, 'invalid experiment', { issues: parsed.issues.map(formatIssue) });
      resources = parsed.resources;
    } else if (typeof b['name'] === 'string') {
      const r = named().get(b['name']);
      if (!r) throw new HttpProblem(404, `no experiment named "${b['name']}" in the suite; known: ${[...named().keys()].join(', ')}`);
      resources = [r];
    } else throw new HttpProblem(400, 'give "name" (an experiment of the suite) or "yaml" (one Chaos Mesh object)');
    if (resources.length !== 1) throw new HttpProblem(400, `"yaml" must hold exactly one object, got ${resources.length}`);
    const r = resources[0]!;
    if (!(CHAOS_KINDS as readonly string[]).includes(r.kind)) throw new HttpProblem(400, `${r.kind} is not started through the API: use chaos run (workflows) or chaos schedule`);
    return r as ChaosResource;
  }

  async function start(b: Record<string, unknown>, actor: string): Promise<ApiExperiment> {
    const r = resolveResource(b);
    const delayMs = b['startInSeconds'] === undefined ? 0 : Number(b['startInSeconds']) * 1000;
    if (!(delayMs >= 0 && delayMs <= 3_600_000)) throw new HttpProblem(400, 'startInSeconds must be a number from 0 to 3600');
    const plan = await options.runner.plan(r.kind, r.spec as Record<string, unknown>, r).catch((e: Error) => {
      throw new HttpProblem(422, e.message);
    });
    if (plan.durationMs > maxDurationMs) throw new HttpProblem(400, `spec.duration must be at most ${maxDurationMs / 1000} s through the API`);
    const id = `api-${randomUUID().slice(0, 8)}`;
    const exp: ApiExperiment = { id, name: r.metadata.name, kind: r.kind, phase: 'scheduled', startedAt: undefined, endsAt: undefined, recoveredAt: undefined, faults: plan.faults.map((f) => ({ target: f.target.id, kind: f.kind })) };
    experiments.set(id, exp);
    options.audit.write('api-start', `${id} ${r.kind}/${r.metadata.name}`, 'ok', `by ${actor}`);
    const inject = async (): Promise<void> => {
      if (exp.phase !== 'scheduled') return;
      try {
        await options.runner.inject(id, plan, []);
        exp.phase = 'injected';
        exp.startedAt = new Date().toISOString();
        exp.endsAt = new Date(Date.now() + plan.durationMs).toISOString();
        timers.set(id, [...(timers.get(id) ?? []), setTimeout(() => void stop(id, 'expiry'), plan.durationMs)]);
      } catch (error) {
        exp.phase = 'failed';
        exp.error = (error as Error).message;
        await options.runner.recover(id).catch(() => undefined);
      }
    };
    if (delayMs === 0) await inject();
    else timers.set(id, [setTimeout(() => void inject(), delayMs)]);
    return exp;
  }

  async function stop(id: string, actor: string): Promise<ApiExperiment> {
    const exp = experiments.get(id);
    if (!exp) throw new HttpProblem(404, `no experiment ${id}`);
    for (const t of timers.get(id) ?? []) clearTimeout(t);
    timers.delete(id);
    if (exp.phase === 'scheduled' || exp.phase === 'injected') {
      await options.runner.recover(id);
      exp.phase = 'recovered';
      exp.recoveredAt = new Date().toISOString();
      options.audit.write('api-stop', id, 'ok', `by ${actor}`);
    }
    return exp;
  }

  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/api/v1/health') return send(200, { status: 'ok' });
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        options.audit.write('api', `${req.method} ${url.pathname}`, 'denied', 'missing or wrong token');
        throw new HttpProblem(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
      }
      const actor = String(req.headers['x-chaos-actor'] ?? req.socket.remoteAddress ?? 'api');
      const m = /^\/api\/v1\/experiments(?:\/([\w-]+))?$/.exec(url.pathname);
      if (!m) throw new HttpProblem(404, `no route ${req.method} ${url.pathname}`);
      const id = m[1];
      if (!id && req.method === 'GET') return send(200, { experiments: [...experiments.values()] });
      if (!id && req.method === 'POST') return send(201, await start(await body(req), actor));
      if (id && req.method === 'GET') {
        const exp = experiments.get(id);
        if (!exp) throw new HttpProblem(404, `no experiment ${id}`);
        return send(200, exp);
      }
      if (id && req.method === 'DELETE') return send(200, await stop(id, actor));
      throw new HttpProblem(405, `${req.method} is not allowed on ${url.pathname}`);
    } catch (error) {
      if (error instanceof HttpProblem) return send(error.status, { error: error.message, ...error.extra });
      return send(500, { error: 'internal error' });
    }
  }
  await new Promise<void>((r) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', r));
  const address = server.address();
  const url = `http://${options.host ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    server,
    url,
    experiments,
    close: async () => {
      for (const id of [...experiments.keys()]) await stop(id, 'shutdown').catch(() => undefined);
      await new Promise((r) => server.close(r));
    },
  };
}

