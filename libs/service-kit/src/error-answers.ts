import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCodes, isResilienceError } from '@nova/resilience';
import { HttpError } from './http-error.ts';

/** Names the field a validation error is about, as `body.email` or `params.id`. */
function fieldOf(error: FastifyError): string | undefined {
  const v = error.validation?.[0];
  if (!v) return undefined;
  const context = error.validationContext ?? 'body';
  const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
  const path = (v.instancePath ?? '').split('/').filter(Boolean).join('.');
  return [context, path, missing].filter(Boolean).join('.');
}

/**
 * What this service turned away without doing the work, with the code it answers: a full bulkhead or a
 * concurrency limit (at capacity), or an open breaker (a dependency known to be down). The service is degraded,
 * not broken: 503 with `Retry-After` tells the caller to come back, where a 500 would say nothing.
 */
const REJECTIONS = [ErrorCodes.BULKHEAD_FULL, ErrorCodes.CONCURRENCY_LIMIT, ErrorCodes.CIRCUIT_OPEN] as const;

/**
 * Errors as clear JSON answers: 400 naming the field, 413 for oversized bodies, the status of an
 * {@link HttpError}, 504 when the caller's deadline ran out, 503 with the stable code when a resilience policy
 * turned the work away (a route that throws its own {@link HttpError} says it better), 404 naming the route,
 * and 500 with no internals for the rest.
 */
export function answerErrors(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError) {
      const body = error.code === undefined ? { error: error.message } : { error: error.message, code: error.code };
      return reply.code(error.statusCode).headers(error.headers).send(body);
    }
    if (error.validation) {
      const field = fieldOf(error);
      return reply.code(400).send({ error: `invalid ${field ?? 'request'}: ${error.message}`, field });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body larger than ${app.initialConfig.bodyLimit} bytes` });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: error.message });
    }
    if (isResilienceError(error, ErrorCodes.DEADLINE_EXCEEDED)) {
      // The caller's budget ran out while we worked: it has given up, so this is not our failure.
      request.log.info({ code: error.code }, 'request deadline exceeded');
      return reply.code(504).send({ error: error.message, code: error.code });
    }
    const rejected = REJECTIONS.find((code) => isResilienceError(error, code));
    if (rejected !== undefined) {
      request.log.warn({ code: rejected }, 'turned away by a resilience policy');
      return reply.code(503).header('retry-after', '1').send({ error: error.message, code: rejected });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
