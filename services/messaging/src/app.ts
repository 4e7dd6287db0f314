import { appendFile } from 'node:fs/promises';
import { createServiceApp, HttpError, pingDatabase, type ServiceAppOptions } from '@nova/service-kit';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { messagingCalls, type MessagingCallsOptions } from './calls.ts';
import { decodeCursor, MessageRepository } from './message-repository.ts';
import { conversationSchema, sendSchema } from './schemas.ts';

/** Options of {@link buildMessagingApp}. */
export interface MessagingAppOptions extends Partial<ServiceAppOptions>, MessagingCallsOptions {
  pool: pg.Pool;
  /** When set, every stored message is also appended to this file (JSON lines): the service's disk I/O. */
  auditLogPath?: string;
}

/**
 * The messaging service. Sends need a token verified by auth-service and a recipient known to user-service.
 * It degrades instead of failing: with user-service down (its breaker open or calls failing), a send to a
 * recipient seen recently still succeeds from a bounded cache; with auth-service down it answers 503 with
 * Retry-After, never 500. An `Idempotency-Key` makes a retried send store exactly one message.
 */
export function buildMessagingApp(options: MessagingAppOptions): FastifyInstance {
  const app = createServiceApp({ name: 'messaging-service', ...options });
  const { authenticate, checkRecipient } = messagingCalls(app, options);
  const messages = new MessageRepository(options.pool);
  app.service.addReadinessCheck({ name: 'database', check: () => pingDatabase(options.pool) });

  app.post<{ Body: { to: string; text: string }; Headers: { 'idempotency-key'?: string } }>(
    '/messages',
    { schema: sendSchema },
    async (request, reply) => {
      const from = await authenticate(request);
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
    { schema: conversationSchema },
    async (request) => {
      const me = await authenticate(request);
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
