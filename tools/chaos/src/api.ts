import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatIssue,
  loadResources,
  nextRuns,
  parseDuration,
  parseResources,
  type ChaosResource,
  type Resource,
  type ScheduleResource,
  type WorkflowResource,
} from '@nova/chaos-spec';
import { parseEffect } from '@nova/faults';
import type { Fault } from '@nova/proto';
import { ApiAuth, parseHtpasswd } from './api-auth.ts';
import { window, type LoadSource } from './load.ts';
import type { ChaosPlan } from './translate.ts';
import { wait } from './wait.ts';
import { runWorkflow, unsupportedTemplates } from './workflow.ts';
import type { ControllerAudit } from './policy.ts';
import type { Runner } from './runner.ts';

/** One experiment started through the API. */
export interface ApiExperiment {
  id: string;
  name: string;
  kind: string;
  phase: 'scheduled' | 'injected' | 'paused' | 'recovered' | 'failed';
  startedAt: string | undefined;
  endsAt: string | undefined;
  recoveredAt: string | undefined;
  faults: Array<{ target: string; kind: string }>;
  /** Each selected target's phase: selected → injected → recovered (Chaos Mesh's records). */
  targets: Array<{ target: string; phase: 'selected' | 'injected' | 'recovered' }>;
  /** After recovery: what each fault did, measured at its target (`took` false: it had no effect). */
  effects?: Array<{ target: string; kind: string; took: boolean; summary: string }>;
  error?: string;
}

/** A fault's effect for the API: whether it took, and the one-line summary. */
function effectOf(f: Fault): { took: boolean; summary: string } {
  const effect = parseEffect(f.effectJson);
  return { took: effect?.took ?? false, summary: effect?.summary ?? 'no effect reported' };
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
  /** Dashboard users: `user:bcrypt-hash` lines (htpasswd -B). Basic auth is refused when absent. */
  htpasswd?: string;
  /** Where `chaos run` writes its reports (history, and the HTML reports the dashboard links). */
  reportsDir?: string;
  /** Load running while `chaos up` is (the dashboard's live chart); none when absent. */
  live?: LoadSource;
}

/**
 * Sent with every answer: no framing of the dashboard (clickjacking), no MIME sniffing, no referrer leaking
 * report paths. Set by hand: the pages inline their scripts, so a script policy would have to allow that anyway.
 */
const SECURITY_HEADERS = {
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** The host of an Origin header, or undefined for `null` and anything unparsable (a foreign origin). */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host || undefined;
  } catch {
    return undefined;
  }
}

const WEB = fileURLToPath(new URL('../web/', import.meta.url));
const req = createRequire(import.meta.url);
/** Files the dashboard page loads: ours and the libraries', from node_modules (no CDN, no build). */
const STATIC: Record<string, [string, string]> = {
  '/': [join(WEB, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': [join(WEB, 'app.js'), 'text/javascript'],
  '/vendor/preact.mjs': [req.resolve('preact').replace(/preact\.js$/, 'preact.module.js'), 'text/javascript'],
  '/vendor/hooks.mjs': [join(dirname(req.resolve('preact')), '../hooks/dist/hooks.module.js'), 'text/javascript'],
  '/vendor/htm.mjs': [join(dirname(req.resolve('htm')), 'htm.module.js'), 'text/javascript'],
  '/vendor/chart.js': [join(dirname(req.resolve('chart.js')), 'chart.umd.min.js'), 'text/javascript'],
};

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
    throw new HttpProblem(
      400,
      'the body must be a JSON object such as {"name": "network-delay-auth"} or {"yaml": "..."}',
    );
  }
}

/**
 * The controller's REST API (`chaos up` serves it; token-protected; documented in tools/chaos/README.md):
 * start a chaos experiment from YAML or by name from the suite, read its status, stop it. Stopping is
 * idempotent, and every fault it starts carries the agent's lease (duration + 2 s), so a client that dies
 * (a SIGKILLed k6) leaves nothing behind.
 */
export async function startApi(
  options: ApiOptions,
): Promise<{ server: Server; url: string; experiments: Map<string, ApiExperiment>; close(): Promise<void> }> {
  const experiments = new Map<string, ApiExperiment>();
  const plans = new Map<string, { plan: ChaosPlan; remainingMs: number; injectedAt: number }>();
  const auth = new ApiAuth({
    token: options.token,
    users: options.htpasswd ? parseHtpasswd(options.htpasswd) : new Map<string, string>(),
  });
  const timers = new Map<string, NodeJS.Timeout[]>();
  const maxDurationMs = options.maxDurationMs ?? 600_000;
  const named = (): Map<string, Resource> => new Map(loadResources(options.suite).map((r) => [r.metadata.name, r]));

  function resolveResource(b: Record<string, unknown>): ChaosResource | WorkflowResource {
    let resources: Resource[];
    if (typeof b['yaml'] === 'string') {
      const parsed = parseResources(b['yaml'], 'request.yaml');
      if (parsed.issues.length)
        throw new HttpProblem(400, 'invalid experiment', { issues: parsed.issues.map(formatIssue) });
      resources = parsed.resources;
    } else if (typeof b['name'] === 'string') {
      const suite = named();
      const r = suite.get(b['name']);
      if (!r)
        throw new HttpProblem(
          404,
          `no experiment named "${b['name']}" in the suite; known: ${[...suite.keys()].join(', ')}`,
        );
      resources = [r];
    } else throw new HttpProblem(400, 'give "name" (an experiment of the suite) or "yaml" (one Chaos Mesh object)');
    if (resources.length !== 1)
      throw new HttpProblem(400, `"yaml" must hold exactly one object, got ${resources.length}`);
    const r = resources[0]!;
    if (r.kind === 'Schedule') throw new HttpProblem(400, 'a Schedule runs under chaos schedule, not through the API');
    return r as ChaosResource | WorkflowResource;
  }

  const workflows = new Map<string, { abort: AbortController; done: Promise<void> }>();

  /** A Workflow runs in the background through the engine; its chaos nodes' targets show up as they run. */
  function startWorkflow(r: WorkflowResource, actor: string): ApiExperiment {
    const problems = unsupportedTemplates(r.spec);
    if (problems.length) throw new HttpProblem(422, problems.join('; '));
    const id = `api-${randomUUID().slice(0, 8)}`;
    const exp: ApiExperiment = {
      id,
      name: r.metadata.name,
      kind: r.kind,
      phase: 'injected',
      startedAt: new Date().toISOString(),
      endsAt: undefined,
      recoveredAt: undefined,
      faults: [],
      targets: [],
    };
    experiments.set(id, exp);
    options.audit.write('api-start', `${id} Workflow/${r.metadata.name}`, 'ok', `by ${actor}`);
    const abort = new AbortController();
    let n = 0;
    const done = runWorkflow(
      r.spec,
      {
        now: () => Date.now(),
        runChaos: async (template, kind, spec, signal) => {
          const deadline = template.deadline ? parseDuration(template.deadline)! : 10_000;
          const plan = await options.runner.plan(kind, spec, r, deadline);
          const uid = `${id}-${n++}`;
          const mine = plan.selected.map((t) => ({ target: t.id, phase: 'selected' as const }));
          exp.targets.push(...mine);
          exp.faults.push(...plan.faults.map((f) => ({ target: f.target.id, kind: f.kind })));
          try {
            await options.runner.inject(uid, plan, []);
            for (const t of mine) (t as { phase: string }).phase = 'injected';
            await wait(deadline, signal);
          } finally {
            await options.runner.recover(uid);
            for (const t of mine) (t as { phase: string }).phase = 'recovered';
          }
        },
      },
      abort.signal,
    )
      .then(
        (result) => {
          exp.phase = result.status === 'failed' ? 'failed' : 'recovered';
          if (result.status === 'failed') exp.error = result.children.find((c) => c.error)?.error ?? 'a node failed';
        },
        (error: unknown) => {
          exp.phase = 'failed';
          exp.error = (error as Error).message;
        },
      )
      .finally(() => {
        exp.recoveredAt = new Date().toISOString();
        workflows.delete(id);
      });
    workflows.set(id, { abort, done });
    return exp;
  }

  async function start(b: Record<string, unknown>, actor: string): Promise<ApiExperiment> {
    const resolved = resolveResource(b);
    if (resolved.kind === 'Workflow') return startWorkflow(resolved, actor);
    const r = resolved;
    const delayMs = b['startInSeconds'] === undefined ? 0 : Number(b['startInSeconds']) * 1000;
    if (!(delayMs >= 0 && delayMs <= 3_600_000))
      throw new HttpProblem(400, 'startInSeconds must be a number from 0 to 3600');
    const plan = await options.runner.plan(r.kind, r.spec as Record<string, unknown>, r).catch((e: Error) => {
      throw new HttpProblem(422, e.message);
    });
    if (plan.durationMs > maxDurationMs)
      throw new HttpProblem(400, `spec.duration must be at most ${maxDurationMs / 1000} s through the API`);
    const id = `api-${randomUUID().slice(0, 8)}`;
    const exp: ApiExperiment = {
      id,
      name: r.metadata.name,
      kind: r.kind,
      phase: 'scheduled',
      startedAt: undefined,
      endsAt: undefined,
      recoveredAt: undefined,
      faults: plan.faults.map((f) => ({ target: f.target.id, kind: f.kind })),
      targets: plan.selected.map((t) => ({ target: t.id, phase: 'selected' })),
    };
    plans.set(id, { plan, remainingMs: plan.durationMs, injectedAt: 0 });
    experiments.set(id, exp);
    options.audit.write('api-start', `${id} ${r.kind}/${r.metadata.name}`, 'ok', `by ${actor}`);
    const inject = async (): Promise<void> => {
      if (exp.phase !== 'scheduled') return;
      try {
        await options.runner.inject(id, plan, []);
        markInjected(exp, plan.durationMs);
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

  function markInjected(exp: ApiExperiment, forMs: number): void {
    exp.phase = 'injected';
    exp.startedAt ??= new Date().toISOString();
    exp.endsAt = new Date(Date.now() + forMs).toISOString();
    for (const t of exp.targets) t.phase = 'injected';
    plans.get(exp.id)!.injectedAt = Date.now();
    timers.set(exp.id, [...(timers.get(exp.id) ?? []), setTimeout(() => expire(exp), forMs)]);
  }

  /**
   * Ends an experiment at its expiry. A recovery that fails there (the agent died, a target is gone) must not
   * become an unhandled rejection, which would end `chaos up` and everything it runs: it is recorded on the
   * experiment and in the audit log; the services revert the fault themselves when its lease ends.
   */
  function expire(exp: ApiExperiment): void {
    stop(exp.id, 'expiry').catch((error: unknown) => {
      exp.phase = 'failed';
      exp.error = `recovery at expiry failed: ${(error as Error).message} (each target reverts the fault itself when its lease ends)`;
      options.audit.write('api-stop', exp.id, 'failed', exp.error);
    });
  }

  /** What the faults of each injected experiment have done so far, from the agent (best effort: status only). */
  async function refreshLiveEffects(): Promise<void> {
    const running = [...experiments.values()].filter((e) => e.phase === 'injected');
    if (running.length === 0) return;
    const faults = await options.runner.activeFaults().catch(() => [] as Fault[]);
    for (const exp of running) {
      const mine = faults.filter((f) => f.experimentUid === exp.id || f.experimentUid.startsWith(`${exp.id}-`));
      exp.effects = mine.map((f) => ({ target: f.targetId, kind: f.kind, ...effectOf(f) }));
    }
  }

  /** Keeps what each recovered fault did; returns why recovery failed, when a fault's undo failed. */
  function recordEffects(exp: ApiExperiment, faults: readonly Fault[]): string | undefined {
    // The live effects shown while it ran give way to the final ones.
    exp.effects = [
      ...(exp.effects ?? []).filter((e) => !faults.some((f) => f.targetId === e.target && f.kind === e.kind)),
      ...faults.map((f) => ({ target: f.targetId, kind: f.kind, ...effectOf(f) })),
    ];
    const failed = faults.filter((f) => f.phase === 'failed');
    return failed.length ? failed.map((f) => `${f.kind} on ${f.targetId}: ${f.error}`).join('; ') : undefined;
  }

  /** Chaos Mesh's pause: the fault is recovered but the experiment stays, with the time it had left. */
  async function pause(id: string, actor: string): Promise<ApiExperiment> {
    const exp = experiments.get(id);
    if (!exp) throw new HttpProblem(404, `no experiment ${id}`);
    if (exp.phase !== 'injected') throw new HttpProblem(409, `experiment ${id} is ${exp.phase}, not injected`);
    if (exp.kind === 'Workflow') throw new HttpProblem(409, 'a Workflow is not paused (as in Chaos Mesh): stop it');
    for (const t of timers.get(id) ?? []) clearTimeout(t);
    timers.delete(id);
    const p = plans.get(id)!;
    p.remainingMs = Math.max(1000, p.remainingMs - (Date.now() - p.injectedAt));
    await options.runner.recover(id);
    exp.phase = 'paused';
    for (const t of exp.targets) t.phase = 'recovered';
    options.audit.write('api-pause', id, 'ok', `by ${actor}`);
    return exp;
  }

  async function resume(id: string, actor: string): Promise<ApiExperiment> {
    const exp = experiments.get(id);
    if (!exp) throw new HttpProblem(404, `no experiment ${id}`);
    if (exp.phase !== 'paused') throw new HttpProblem(409, `experiment ${id} is ${exp.phase}, not paused`);
    const p = plans.get(id)!;
    await options.runner.inject(id, { ...p.plan, durationMs: p.remainingMs }, []);
    markInjected(exp, p.remainingMs);
    options.audit.write('api-resume', id, 'ok', `by ${actor}`);
    return exp;
  }

  /** Finished experiments of this controller, and the runs `chaos run` reported. */
  function history(): unknown {
    const runs: unknown[] = [];
    const dir = options.reportsDir;
    if (dir && existsSync(dir)) {
      for (const run of readdirSync(dir).sort().reverse().slice(0, 20)) {
        try {
          const r = JSON.parse(readFileSync(join(dir, run, 'report.json'), 'utf8')) as {
            runId: string;
            startedAt: string;
            results: Array<{ name: string; kind: string; verdict: string }>;
          };
          runs.push({
            runId: r.runId,
            startedAt: r.startedAt,
            report: `/reports/${run}/report.html`,
            results: r.results.map((x) => ({ name: x.name, kind: x.kind, verdict: x.verdict })),
          });
        } catch {
          // a run still writing, or not a report
        }
      }
    }
    return {
      experiments: [...experiments.values()].filter((e) => e.phase === 'recovered' || e.phase === 'failed'),
      runs,
    };
  }

  function suite(): unknown {
    const resources = loadResources(options.suite);
    const now = new Date();
    return {
      experiments: resources
        .filter((r) => r.kind !== 'Schedule')
        .map((r) => ({
          name: r.metadata.name,
          kind: r.kind,
          file: `${r.source.file}:${r.source.line}`,
          startable: true,
        })),
      schedules: resources
        .filter((r): r is ScheduleResource => r.kind === 'Schedule')
        .map((s) => ({
          name: s.metadata.name,
          type: s.spec.type,
          schedule: s.spec.schedule,
          concurrencyPolicy: s.spec.concurrencyPolicy ?? 'Forbid',
          next: nextRuns(s.spec.schedule, now, 3),
        })),
    };
  }

  function live(): unknown {
    const load = options.live;
    if (!load) return { series: [] };
    const now = load.now();
    const series = [];
    for (let t = Math.max(0, Math.floor(now / 1000) - 60); t < Math.floor(now / 1000); t++) {
      const w = window(load.samples, t * 1000, t * 1000 + 1000);
      series.push({ t, p99: Math.round(w.p99), errorRate: w.errorRate, count: w.count });
    }
    return { series };
  }

  async function stop(id: string, actor: string): Promise<ApiExperiment> {
    const exp = experiments.get(id);
    if (!exp) throw new HttpProblem(404, `no experiment ${id}`);
    const wf = workflows.get(id);
    if (wf) {
      wf.abort.abort();
      await wf.done;
      options.audit.write('api-stop', id, 'ok', `by ${actor}`);
      return exp;
    }
    for (const t of timers.get(id) ?? []) clearTimeout(t);
    timers.delete(id);
    if (exp.phase === 'scheduled' || exp.phase === 'injected' || exp.phase === 'paused') {
      const failed = recordEffects(exp, await options.runner.recover(id));
      exp.phase = failed ? 'failed' : 'recovered';
      if (failed) exp.error = `recovery failed: ${failed}`;
      exp.recoveredAt = new Date().toISOString();
      for (const t of exp.targets) t.phase = 'recovered';
      options.audit.write(
        'api-stop',
        id,
        failed ? 'failed' : 'ok',
        failed ? `by ${actor}: ${exp.error}` : `by ${actor}`,
      );
    }
    return exp;
  }

  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/api/v1/health') return send(200, { status: 'ok' });
      // What a refusal records of the request: bounded, whatever the caller sent.
      const what = `${String(req.method).slice(0, 10)} ${url.pathname.slice(0, 120)}`;
      const authn = await auth.authenticate(req);
      if (!authn.ok) {
        if (authn.retryAfterS !== undefined) {
          res.setHeader('retry-after', String(authn.retryAfterS));
          throw new HttpProblem(429, 'too many failed or pending logins from this address: retry later');
        }
        options.audit.write('api', what, 'denied', 'missing or wrong credentials');
        res.setHeader('www-authenticate', 'Basic realm="Nova Chaos", charset="UTF-8"');
        throw new HttpProblem(
          401,
          'missing or wrong credentials: Basic (dashboard users) or Authorization: Bearer <token>',
        );
      }
      const who = authn.principal;
      const mutating = req.method !== 'GET' && req.method !== 'HEAD';
      // CSRF: a browser sends Basic credentials by itself, so a mutation must prove it comes from our page:
      // a custom header (which a cross-site form cannot set), and no foreign Origin.
      if (mutating && who.basic) {
        const origin = req.headers.origin;
        if (req.headers['x-nova-csrf'] !== '1' || (origin !== undefined && hostOf(origin) !== req.headers.host)) {
          options.audit.write('api', what, 'denied', 'CSRF check failed');
          throw new HttpProblem(403, 'cross-site request refused: send X-Nova-Csrf: 1 from the dashboard');
        }
      }
      const actor = who.actor;
      if (req.method === 'GET' && STATIC[url.pathname]) {
        const [file, type] = STATIC[url.pathname]!;
        res
          .writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
          .end(readFileSync(file));
        return;
      }
      const report = /^\/reports\/([\w-]+)\/report\.html$/.exec(url.pathname);
      if (req.method === 'GET' && report && options.reportsDir) {
        const file = join(options.reportsDir, report[1]!, 'report.html');
        if (!existsSync(file)) throw new HttpProblem(404, `no report ${report[1]}`);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(readFileSync(file));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/api/v1/suite') return send(200, suite());
      if (req.method === 'GET' && url.pathname === '/api/v1/history') return send(200, history());
      if (req.method === 'GET' && url.pathname === '/api/v1/live') return send(200, live());
      if (req.method === 'POST' && url.pathname === '/api/v1/schedules/preview') {
        const b = await body(req);
        try {
          return send(200, { schedule: b['schedule'], next: nextRuns(String(b['schedule'] ?? ''), new Date(), 5) });
        } catch (error) {
          throw new HttpProblem(400, `schedule: ${(error as Error).message}`);
        }
      }
      const m = /^\/api\/v1\/experiments(?:\/([\w-]+)(?:\/(pause|resume))?)?$/.exec(url.pathname);
      if (!m) throw new HttpProblem(404, `no route ${req.method} ${url.pathname}`);
      const [, id, verb] = m;
      if (!id && req.method === 'GET') {
        await refreshLiveEffects();
        return send(200, { experiments: [...experiments.values()] });
      }
      if (!id && req.method === 'POST') return send(201, await start(await body(req), actor));
      if (id && verb && req.method === 'POST')
        return send(200, verb === 'pause' ? await pause(id, actor) : await resume(id, actor));
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
