import { randomUUID } from 'node:crypto';
import {
  createServiceApp,
  HttpError,
  unavailable,
  pingDatabase,
  type ServiceAppOptions,
  errorResponseSchema,
} from '@nova/service-kit';
import {
  BulkheadRejectedError,
  ErrorCodes,
  loadShedding,
  requestDeadlineSignal,
  type LoadSheddingOptions,
} from '@nova/resilience';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { PasswordHasher } from './hashing.ts';
import { hashPassword } from './password.ts';
import { UserRepository } from './user-repository.ts';

/** Options of {@link buildUserApp}. */
export interface UserAppOptions extends Partial<ServiceAppOptions> {
  pool: pg.Pool;
  /** scrypt cost (log2 N). Default 14, production's (the stacks use it; the tests use less, to run fast). */
  passwordCost?: number;
  /**
   * The adaptive concurrency limit of the credentials check (server-side load shedding), or `false` for none.
   * Default: a gradient limit (see {@link CREDENTIALS_SHEDDING}).
   */
  credentialsShedding?: LoadSheddingOptions | false;
  /** Password hashes computed at once. Default: {@link defaultHashConcurrency}. */
  hashConcurrency?: number;
  /** Hashes that may wait for a slot; beyond it a request is answered 503 at once. Default 256. */
  hashQueue?: number;
}

const CREDENTIALS_PATH = '/internal/credentials/verify';

/**
 * The credentials check's shedding: hashing is the one CPU-bound route, and a login surge beyond what the
 * hashing slots can do (see `hashing.ts`) would otherwise queue until every caller times out (and retries,
 * and queues more). A gradient limit learns the concurrency at which latency stays within about twice its
 * no-load value and answers the rest 503 at once, so the logins it admits keep their latency. Tolerance 2,
 * not the default 1.5: hashing on shared cores is ~2× slower with no queue at all, which is not congestion (at
 * 1.5 it shed while the machine was keeping up). Limit 4 at least and at first: with one hash at a time, a
 * login waits behind at most three others (~4 hashes, well inside auth's 1 s timeout) before any is shed, so
 * a light load on a machine busy with other work is served rather than shed for latency it did not cause.
 */
export const CREDENTIALS_SHEDDING: LoadSheddingOptions = {
  name: 'credentials',
  initialLimit: 4,
  tolerance: 2,
  minLimit: 4,
  maxLimit: 64,
  queueSize: 2,
  exempt: (request) => !request.url.startsWith(CREDENTIALS_PATH),
};

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    createdAt: { type: 'string' },
  },
  required: ['id', 'email', 'name', 'createdAt'],
} as const;
const idParams = {
  type: 'object',
  properties: { id: { type: 'string', format: 'uuid' } },
  required: ['id'],
} as const;
const email = { type: 'string', format: 'email', maxLength: 254 } as const;

/** The user service: users with unique emails and scrypt-hashed passwords, and the credentials check auth uses. */
export function buildUserApp(options: UserAppOptions): FastifyInstance {
  const app = createServiceApp({ name: 'user-service', ...options });
  const users = new UserRepository(options.pool);
  const cost = options.passwordCost ?? 14;
  const hasher = new PasswordHasher({ cost, concurrency: options.hashConcurrency, queue: options.hashQueue });
  // A full hashing queue is the service at capacity: 503 + Retry-After, as shedding answers.
  const hashed = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof BulkheadRejectedError)
        throw unavailable('password hashing is at capacity: retry later', 1, ErrorCodes.BULKHEAD_FULL);
      throw error;
    }
  };
  // Compared against when the email is unknown, so such logins cost as much as real ones.
  const dummyHash = hashPassword(randomUUID(), cost);
  app.service.addReadinessCheck({ name: 'database', check: () => pingDatabase(options.pool) });
  if (options.credentialsShedding !== false)
    app.register(loadShedding, options.credentialsShedding ?? CREDENTIALS_SHEDDING);

  app.post<{ Body: { email: string; name: string; password: string } }>(
    '/users',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'name', 'password'],
          properties: {
            email,
            name: { type: 'string', minLength: 1, maxLength: 100 },
            password: { type: 'string', minLength: 8, maxLength: 128 },
          },
        },
        response: { 201: userSchema, 409: errorResponseSchema },
      },
    },
    async (request, reply) => {
      const { email: address, name, password } = request.body;
      // Past the request's deadline (answered 504), a hash still queued is not started: in a surge, callers time
      // out and retry, and hashing for the ones that left would only delay the ones that stayed.
      const hash = await hashed(() => hasher.hash(password, requestDeadlineSignal(request)));
      const user = await users.create(address, name, hash);
      if (!user) throw new HttpError(409, `a user with email ${address} already exists`);
      return reply.code(201).send(user);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/users/:id',
    { schema: { params: idParams, response: { 200: userSchema, 404: errorResponseSchema } } },
    async (request) => {
      const user = await users.byId(request.params.id);
      if (!user) throw new HttpError(404, `no user ${request.params.id}`);
      return user;
    },
  );

  app.get<{ Querystring: { email: string } }>(
    '/users',
    {
      schema: {
        querystring: { type: 'object', required: ['email'], properties: { email } },
        response: { 200: userSchema, 404: errorResponseSchema },
      },
    },
    async (request) => {
      const user = await users.byEmail(request.query.email);
      if (!user) throw new HttpError(404, `no user with email ${request.query.email}`);
      return user;
    },
  );

  app.delete<{ Params: { id: string } }>('/users/:id', { schema: { params: idParams } }, async (request, reply) => {
    if (!(await users.delete(request.params.id))) throw new HttpError(404, `no user ${request.params.id}`);
    return reply.code(204).send();
  });

  // Internal: auth-service checks a login here. The answer never says which of email or password was wrong.
  app.post<{ Body: { email: string; password: string } }>(
    CREDENTIALS_PATH,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password'],
          properties: { email, password: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 200: userSchema, 401: errorResponseSchema },
      },
    },
    async (request) => {
      const found = await users.credentials(request.body.email);
      // Hash even for an unknown email, so response time does not reveal which accounts exist.
      const stored = found?.passwordHash ?? (await dummyHash);
      const ok = await hashed(() => hasher.verify(request.body.password, stored, requestDeadlineSignal(request)));
      if (!found || !ok) throw new HttpError(401, 'invalid email or password');
      return found.user;
    },
  );

  return app;
}
