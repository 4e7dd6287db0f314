import { isResilienceError, ErrorCodes, requestDeadline, type HttpClient } from '@nova/resilience';
import {
  createServiceApp,
  createUpstream,
  HttpError,
  pingDatabase,
  unavailable,
  type ServiceAppOptions,
  errorResponseSchema,
} from '@nova/service-kit';
import { appendFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { decodeCursor, MessageRepository } from './message-repository.ts';

/** Options of {@link buildMessagingApp}. */
export interface MessagingAppOptions extends Partial<ServiceAppOptions> {
  pool: pg.Pool;
  authServiceUrls: string[];
  userServiceUrls: string[];
  /** Per-attempt budget of calls to other services, in ms. Default 1 000. */
  upstreamTimeoutMs?: number;
  /** How long a breaker stays open, in ms; also the Retry-After of a 503. Default 5 000. */
  breakerResetMs?: number;
  /**
   * A call to user-service this slow counts as slow, in ms; when half of the calls in the breaker's window are,
   * the breaker opens and sends use the recipient cache (a slow upstream with a fallback is cut off rather
   * than waited for). Default 300.
   */
  userSlowCallMs?: number;
  /** Recipients remembered for the fallback. Default 10 000, for 10 minutes. */
  recipientCacheSize?: number;
  recipientCacheTtlMs?: number;
  /** When set, every stored message is also appended to this file (JSON lines): the service's disk I/O. */
  auditLogPath?: string;
}

const uuid = { type: 'string', format: 'uuid' } as const;
const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    text: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

/**
 * The messaging service. Sends need a token verified by auth-service and a recipient known to user-service.
 * It degrades instead of failing: with user-service down (its breaker open or calls failing), a send to a
 * recipient seen recently still succeeds from a bounded cache; with auth-service down it answers 503 with
 * Retry-After, never 500. An `Idempotency-Key` makes a retried send store exactly one message.
 */
export function buildMessagingApp(options: MessagingAppOptions): FastifyInstance {
  const app = createServiceApp({ name: 'messaging-service', ...options });
  const { service } = app;
  const breakerResetMs = options.breakerResetMs ?? 5_000;
  const timeoutMs = options.upstreamTimeoutMs ?? 1_000;
  const breaker = { minimumVolume: 5, resetTimeoutMs: breakerResetMs, halfOpenProbes: 2 };
  const auth = createUpstream(app, { name: 'auth-service', baseUrls: options.authServiceUrls, timeoutMs, breaker });
  const users = createUpstream(app, {
    name: 'user-service',
    baseUrls: options.userServiceUrls,
    timeoutMs,
    // Only here: a recipient check has a fallback, so opening on slowness costs nothing. A token check has
    // none; opening on a slow auth-service would turn slow answers into errors. Judged over each replica's
    // last 4 calls: a slow call is only counted when it ends, so a longer window (or a time window that still
    // holds the fast calls from before) lets many more requests start waiting before it opens.
    breaker: {
      ...breaker,
      mode: 'count-window',
      windowSize: 4,
      minimumVolume: 4,
      slowCallMs: options.userSlowCallMs ?? 300,
      slowCallRateThreshold: 50,
      // One probe: while user-service is slow, each probe is a user's send waiting for it.
      halfOpenProbes: 1,
    },
    // Sends can still work without user-service (the fallback): it does not gate readiness.
    requiredForReadiness: false,
  });
  const messages = new MessageRepository(options.pool);
  const recipients = new LRUCache<string, true>({
    max: options.recipientCacheSize ?? 10_000,
    ttl: options.recipientCacheTtlMs ?? 600_000,
  });
  service.addReadinessCheck({ name: 'database', check: () => pingDatabase(options.pool) });

  /** The caller's user id, from the bearer token, checked by auth-service. */
  async function authenticate(request: FastifyRequest, client: HttpClient): Promise<string> {
    const header = request.headers.authorization;
    if (!header?.startsWith('Bearer '))
      throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    let res;
    try {
      // Verifying a token changes nothing: safe to retry although it is a POST.
      res = await client.post(
        '/auth/verify',
        { token: header.slice(7).trim() },
        { idempotent: true, headers: request.traceHeaders(), deadline: requestDeadline(request) },
      );
    } catch (error) {
      // The caller's budget ran out: 504 (service-kit), not a 503 that blames auth-service and asks for a retry.
      if (isResilienceError(error, ErrorCodes.DEADLINE_EXCEEDED)) throw error;
      request.log.warn({ err: error }, 'auth-service unavailable');
      throw unavailable('cannot verify the token: auth-service does not answer', breakerResetMs / 1000);
    }
    if (res.statusCode === 401) throw new HttpError(401, 'invalid or expired token');
    if (res.statusCode !== 200) throw unavailable('cannot verify the token', 1);
    return res.json<{ sub: string }>().sub;
  }

  /** Throws unless the recipient exists; falls back to recently seen recipients when user-service fails. */
  async function checkRecipient(request: FastifyRequest, id: string): Promise<void> {
    let res;
    try {
      res = await users.get(`/users/${id}`, {
        headers: request.traceHeaders(),
        deadline: requestDeadline(request),
      });
    } catch (error) {
      if (recipients.has(id)) {
        service.metrics.fallbacks.inc({ service: service.name, upstream: 'user-service' });
        const open = isResilienceError(error, ErrorCodes.CIRCUIT_OPEN);
        request.log.info({ recipient: id, breakerOpen: open }, 'user-service unavailable: recipient from cache');
        return;
      }
      throw unavailable('cannot check the recipient: user-service does not answer', breakerResetMs / 1000);
    }
    if (res.statusCode === 404) throw new HttpError(404, `no recipient ${id}`);
    if (res.statusCode !== 200) throw unavailable('cannot check the recipient', 1);
    recipients.set(id, true);
  }

  app.post<{ Body: { to: string; text: string }; Headers: { 'idempotency-key'?: string } }>(
    '/messages',
    {
      schema: {
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 128 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['to', 'text'],
          properties: { to: uuid, text: { type: 'string', minLength: 1, maxLength: 2000 } },
        },
        response: {
          200: messageSchema,
          201: messageSchema,
          401: errorResponseSchema,
          404: errorResponseSchema,
          503: errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      const from = await authenticate(request, auth);
      await checkRecipient(request, request.body.to);
      const key = request.headers['idempotency-key'];
      const { message, created } = await messages.send(from, request.body.to, request.body.text, key);
      if (created && options.auditLogPath) await appendFile(options.auditLogPath, `${JSON.stringify(message)}\n`);
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.code(created ? 201 : 200).send(message);
    },
  );

  app.get<{ Querystring: { with: string; limit: number; cursor?: string } }>(
    '/messages',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['with'],
          additionalProperties: false,
          properties: {
            with: uuid,
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
            cursor: { type: 'string', maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { messages: { type: 'array', items: messageSchema }, nextCursor: { type: 'string' } },
          },
          401: errorResponseSchema,
          503: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const me = await authenticate(request, auth);
      const { with: other, limit, cursor } = request.query;
      const before = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && !before) {
        throw new HttpError(400, 'invalid querystring.cursor: pass the nextCursor of a previous page');
      }
      return messages.conversation(me, other, limit, before);
    },
  );

  return app;
}
