import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  formatIssue,
  loadResources,
  nextRuns,
  parseResources,
  type ChaosResource,
  type Resource,
  type ScheduleResource,
  type WorkflowResource,
} from '@nova/chaos-spec';
import type { ApiAuth } from './auth.ts';
import { ApiError } from './errors.ts';
import type { ExperimentManager } from './experiments.ts';
import type { ScheduleManager } from './schedules.ts';
import { errorAnswers, idParams, loginBody, openObject, previewBody, startBody } from './schemas.ts';
import { checkCsrf } from './security.ts';
import type { ApiOptions } from './options.ts';
import { SESSION_COOKIE, type SessionStore } from './sessions.ts';
import { liveView, reportedRuns, suiteView } from './views.ts';

/** What the routes work with. */
export interface RouteContext {
  options: ApiOptions;
  auth: ApiAuth;
  sessions: SessionStore;
  experiments: ExperimentManager;
  schedules: ScheduleManager;
}

type StartBody = { name?: string; yaml?: string; startInSeconds?: number };
type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const ref = (id: string): { $ref: string } => ({ $ref: `${id}#` });
const actorOf = (request: FastifyRequest): string => request.principal?.actor ?? 'unknown';

/** The one object a start request names: by `name` from the suite, or as `yaml`. */
function resolve(body: StartBody | undefined, suite: string[]): Resource {
  let resources: Resource[];
  if (body?.yaml !== undefined) {
    const parsed = parseResources(body.yaml, 'request.yaml');
    if (parsed.issues.length) throw new ApiError(400, 'invalid experiment', { issues: parsed.issues.map(formatIssue) });
    resources = parsed.resources;
  } else if (body?.name !== undefined) {
    const named = new Map(loadResources(suite).map((r) => [r.metadata.name, r]));
    const r = named.get(body.name);
    if (!r)
      throw new ApiError(404, `no object named "${body.name}" in the suite; known: ${[...named.keys()].join(', ')}`);
    resources = [r];
  } else throw new ApiError(400, 'body.name or body.yaml: give one (an object of the suite, or one Chaos Mesh object)');
  if (resources.length !== 1)
    throw new ApiError(400, `body.yaml: must hold exactly one object, got ${resources.length}`);
  return resources[0]!;
}

/** Registers every route of the API on `app`. */
export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { options, experiments } = ctx;
  const tags = (t: string) => ({ tags: [t] });

  app.get('/api/v1/health', { config: { public: true }, schema: { response: { 200: openObject({}) } } }, async () => ({
    status: 'ok',
  }));
  app.get('/api/v1/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  registerSessionRoutes(app, ctx);

  app.get('/api/v1/suite', { schema: { ...tags('dashboard'), response: { 200: openObject({}) } } }, async () =>
    suiteView(options.suite),
  );
  app.get('/api/v1/history', { schema: { ...tags('dashboard'), response: { 200: openObject({}) } } }, async () => ({
    experiments: experiments.finished(),
    ...reportedRuns(options.reportsDir),
  }));
  app.get('/api/v1/live', { schema: { ...tags('dashboard'), response: { 200: openObject({}) } } }, async () =>
    liveView(options.live),
  );
  app.post(
    '/api/v1/schedules/preview',
    { schema: { ...tags('schedules'), body: previewBody, response: { 200: openObject({}), ...errorAnswers } } },
    async (request: FastifyRequest<{ Body: { schedule: string } }>) => {
      try {
        return {
          schedule: request.body.schedule,
          next: nextRuns(request.body.schedule, new Date(), 5).map((d) => d.toISOString()),
        };
      } catch (error) {
        throw new ApiError(400, `body.schedule: ${(error as Error).message}`);
      }
    },
  );

  registerExperimentRoutes(app, ctx);
  registerScheduleRoutes(app, ctx);

  app.get(
    '/reports/:run/report.html',
    { schema: { hide: true } },
    async (request: FastifyRequest<{ Params: { run: string } }>, reply: FastifyReply) => {
      const run = request.params.run;
      const file =
        options.reportsDir && /^[\w-]+$/.test(run) ? join(options.reportsDir, run, 'report.html') : undefined;
      if (!file || !existsSync(file)) throw new ApiError(404, `no report ${run.slice(0, 80)}`);
      // A report is one self-contained page with its scripts inline: allowed there, and nothing else.
      reply.header(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
      );
      return reply.type('text/html; charset=utf-8').send(readFileSync(file));
    },
  );
}

/** Sessions: a login with a password or the token opens one; the cookie then authenticates the dashboard. */
function registerSessionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { auth, sessions } = ctx;
  const audit = ctx.options.audit;
  const tags = (t: string) => ({ tags: [t] });
  app.post(
    '/api/v1/session',
    {
      config: { public: true },
      schema: { ...tags('session'), body: loginBody, response: { 200: openObject({}), ...errorAnswers } },
    },
    async (
      request: FastifyRequest<{ Body: { username?: string; password?: string; token?: string } | undefined }>,
      reply,
    ) => {
      // A login is a mutation a cross-site form could forge (login CSRF): the same proof as any other.
      checkCsrf(request, audit, 'POST /api/v1/session');
      const body = request.body ?? {};
      if (body.token === undefined && (body.username === undefined || body.password === undefined))
        throw new ApiError(400, 'body.username and body.password, or body.token: required');
      const result = await auth.login(request.ip, body);
      if (!result.ok) {
        if (result.retryAfterS !== undefined) {
          reply.header('retry-after', String(result.retryAfterS));
          throw new ApiError(429, 'too many failed or pending logins from this address: retry later');
        }
        audit.write('api-login', String(body.username ?? 'token').slice(0, 64), 'denied', 'wrong credentials');
        throw new ApiError(401, 'wrong user name or password (or token)');
      }
      const id = sessions.create(result.principal.actor, Date.now());
      reply.setCookie(SESSION_COOKIE, id, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/',
        maxAge: Math.floor(sessions.maxAgeMs / 1000),
      });
      audit.write('api-login', result.principal.actor, 'ok', 'session opened');
      return { actor: result.principal.actor, idleTimeoutS: sessions.idleMs / 1000 };
    },
  );
  app.get(
    '/api/v1/session',
    { schema: { ...tags('session'), response: { 200: openObject({}), ...errorAnswers } } },
    async (request) => ({
      actor: actorOf(request),
      session: sessions.touch(request.cookies[SESSION_COOKIE], Date.now()) !== undefined,
    }),
  );
  app.delete(
    '/api/v1/session',
    { schema: { ...tags('session'), response: { 200: openObject({}), ...errorAnswers } } },
    async (request, reply) => {
      const ended = sessions.end(request.cookies[SESSION_COOKIE]);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      audit.write('api-logout', actorOf(request), 'ok', ended ? 'session ended' : 'no session');
      return { loggedOut: ended };
    },
  );
}

function registerExperimentRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { options, experiments } = ctx;
  const answers = (ok: number) => ({ [ok]: ref('Experiment'), ...errorAnswers });
  const schema = { tags: ['experiments'] };

  app.get(
    '/api/v1/experiments',
    {
      schema: {
        ...schema,
        response: { 200: openObject({ experiments: { type: 'array', items: ref('Experiment') } }) },
      },
    },
    async () => ({
      experiments: await experiments.list(),
    }),
  );
  app.post(
    '/api/v1/experiments',
    { schema: { ...schema, body: startBody, response: answers(201) } },
    async (request: FastifyRequest<{ Body: StartBody | undefined }>, reply) => {
      const r = resolve(request.body, options.suite);
      if (r.kind === 'Schedule') throw new ApiError(400, 'body: a Schedule starts through POST /api/v1/schedules');
      const delayMs = (request.body?.startInSeconds ?? 0) * 1000;
      const exp = await experiments.start(r as ChaosResource | WorkflowResource, actorOf(request), { delayMs });
      return reply.status(201).send(exp);
    },
  );
  app.get(
    '/api/v1/experiments/:id',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => experiments.get(request.params.id),
  );
  app.delete(
    '/api/v1/experiments/:id',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => experiments.stop(request.params.id, actorOf(request)),
  );
  app.post(
    '/api/v1/experiments/:id/pause',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => experiments.pause(request.params.id, actorOf(request)),
  );
  app.post(
    '/api/v1/experiments/:id/resume',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => experiments.resume(request.params.id, actorOf(request)),
  );
}

function registerScheduleRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { options, schedules } = ctx;
  const answers = (ok: number) => ({ [ok]: ref('Schedule'), ...errorAnswers });
  const schema = { tags: ['schedules'] };

  app.get(
    '/api/v1/schedules',
    { schema: { ...schema, response: { 200: openObject({ schedules: { type: 'array', items: ref('Schedule') } }) } } },
    async () => ({
      schedules: schedules.list(),
    }),
  );
  app.post(
    '/api/v1/schedules',
    { schema: { ...schema, body: startBody, response: answers(201) } },
    async (request: FastifyRequest<{ Body: StartBody | undefined }>, reply) => {
      const r = resolve(request.body, options.suite);
      if (r.kind !== 'Schedule') throw new ApiError(400, `body: a ${r.kind} starts through POST /api/v1/experiments`);
      return reply.status(201).send(schedules.start(r as ScheduleResource, actorOf(request)));
    },
  );
  app.get(
    '/api/v1/schedules/:id',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => schedules.get(request.params.id),
  );
  app.delete(
    '/api/v1/schedules/:id',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => schedules.stop(request.params.id, actorOf(request)),
  );
  app.post(
    '/api/v1/schedules/:id/pause',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => schedules.pause(request.params.id, actorOf(request)),
  );
  app.post(
    '/api/v1/schedules/:id/resume',
    { schema: { ...schema, params: idParams, response: answers(200) } },
    async (request: IdRequest) => schedules.resume(request.params.id, actorOf(request)),
  );
}
