import { timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import { ApiAuth, parseHtpasswd } from './auth.ts';
import { ApiError, codeForStatus } from './errors.ts';
import { ExperimentManager, type ApiExperiment } from './experiments.ts';
import { registerRoutes } from './routes.ts';
import { ScheduleManager } from './schedules.ts';
import { errorSchema, experimentSchema, scheduleSchema } from './schemas.ts';
import { registerAuthentication, registerHeaders } from './security.ts';
import { SESSION_COOKIE, SessionStore } from './sessions.ts';
import type { ApiOptions } from './options.ts';

export type { ApiOptions } from './options.ts';

/** A running API. */
export interface RunningApi {
  server: Server;
  url: string;
  experiments: Map<string, ApiExperiment>;
  /** Stops every experiment and Schedule it started, then the server. */
  close(): Promise<void>;
}

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const req = createRequire(import.meta.url);
/** The libraries the dashboard loads, each one file from node_modules (no CDN, no build). */
const VENDOR: Array<[prefix: string, dir: string, file: string]> = [
  ['/vendor/preact/', dirname(req.resolve('preact')), 'preact.module.js'],
  ['/vendor/preact-hooks/', join(dirname(req.resolve('preact')), '../hooks/dist'), 'hooks.module.js'],
  ['/vendor/htm/', dirname(req.resolve('htm')), 'htm.module.js'],
  ['/vendor/chart.js/', dirname(req.resolve('chart.js')), 'chart.umd.min.js'],
];

/**
 * The fastify instance: errors named by their field (a body's `body.name: required`), an empty JSON body as no
 * body, and every error answered `{error, code}` with a stable `API_ERR_*` code.
 */
function createApp(): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 256 * 1024,
    routerOptions: { maxParamLength: 300 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0]!;
      const at = `${dataVar}${e.instancePath.replace(/\//g, '.')}`;
      if (e.keyword === 'additionalProperties')
        return new Error(`${at}.${String(e.params['additionalProperty'])}: not a known field`);
      if (e.keyword === 'required') return new Error(`${at}.${String(e.params['missingProperty'])}: required`);
      return new Error(`${at}: ${e.message ?? 'invalid'}`);
    },
  });
  // An empty body with a JSON content type (k6's DELETE, fetch with headers set once) is no body, not a 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const body = String(text);
    if (body.trim() === '') return done(null, undefined);
    try {
      const parsed = JSON.parse(body) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      done(null, parsed);
    } catch {
      done(
        new ApiError(400, 'the body must be a JSON object such as {"name": "network-delay-auth"} or {"yaml": "..."}'),
      );
    }
  });
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError)
      return reply.status(error.status).send({ error: error.message, code: error.code, ...error.extra });
    const status = error.validation ? 400 : (error.statusCode ?? 500);
    if (status >= 500) {
      request.log.error(error);
      return reply.status(500).send({ error: 'internal error', code: codeForStatus(500) });
    }
    return reply.status(status).send({ error: error.message, code: codeForStatus(status) });
  });
  app.setNotFoundHandler((request) => {
    throw new ApiError(404, `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 120)}`);
  });

  return app;
}

/** The schemas shared by the routes, and the OpenAPI document built from every route's schema. */
async function registerOpenApi(app: FastifyInstance): Promise<void> {
  for (const schema of [errorSchema, experimentSchema, scheduleSchema]) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Nova Chaos controller API',
        version: '1.0.0',
        description: 'Chaos Mesh experiments, Workflows and Schedules run by `chaos up`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          basic: { type: 'http', scheme: 'basic' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
      security: [{ bearer: [] }, { basic: [] }, { session: [] }],
    },
  });
}

/**
 * The controller's REST API and dashboard on fastify (`chaos up` serves it; documented in tools/chaos/README.md
 * and at `/api/v1/openapi.json`): start chaos experiments and Schedules from YAML or by name from the suite,
 * pause, resume and stop them, read their status and history. Every fault carries the agent's lease, so a client
 * that dies (a SIGKILLed k6) leaves nothing behind.
 */
export async function startApi(options: ApiOptions): Promise<RunningApi> {
  const audit = options.audit;
  const auth = new ApiAuth({
    token: options.token,
    users: options.htpasswd ? parseHtpasswd(options.htpasswd) : new Map<string, string>(),
  });
  const sessions = new SessionStore(options.sessions);
  const experiments = new ExperimentManager(options.runner, audit, options.maxDurationMs ?? 600_000);
  const schedules = new ScheduleManager(experiments, audit);

  const app = createApp();
  await registerOpenApi(app);
  await registerHeaders(app, join(WEB, 'index.html'));
  await app.register(cookie);
  const expected = Buffer.from(`Bearer ${options.token}`);
  // Only callers without valid credentials are limited (a logged-in dashboard polls several times a second).
  // A global hook, before authentication, so a flood of wrong credentials is refused before any check.
  await app.register(rateLimit, { global: false });
  app.addHook(
    'onRequest',
    app.rateLimit({
      max: options.anonymousPerMinute ?? 300,
      timeWindow: 60_000,
      allowList: (request) => {
        const header = Buffer.from(request.headers.authorization ?? '');
        if (header.length === expected.length && timingSafeEqual(header, expected)) return true;
        return sessions.touch(request.cookies[SESSION_COOKIE], Date.now()) !== undefined;
      },
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, `too many requests without credentials from this address: retry in ${context.after}`),
    }),
  );
  registerAuthentication(app, { auth, sessions, audit });
  await app.register(fastifyStatic, { root: WEB, prefix: '/', wildcard: false, schemaHide: true });
  for (const [prefix, dir, file] of VENDOR) {
    await app.register(fastifyStatic, {
      root: dir,
      prefix,
      decorateReply: false,
      wildcard: false,
      schemaHide: true,
      allowedPath: (path) => path === `/${file}`,
    });
  }
  registerRoutes(app, { options, auth, sessions, experiments, schedules });

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const url = `http://${options.host ?? '127.0.0.1'}:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    server: app.server,
    url,
    experiments: experiments.experiments,
    close: async () => {
      await schedules.stopAll('shutdown');
      await experiments.stopAll('shutdown');
      await app.close();
    },
  };
}
