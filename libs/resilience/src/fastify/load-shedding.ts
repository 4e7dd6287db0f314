import { AdaptiveLimiter, type AdaptiveLimitOptions } from '../adaptive-limit.ts';
import { ErrorCodes } from '../errors.ts';
import { observed, publish } from '../events.ts';
import { sharedPlugin, type ReplyLike, type RequestLike } from './fastify-like.ts';

/** Options of the {@link loadShedding} plugin. */
export interface LoadSheddingOptions extends AdaptiveLimitOptions {
  /** The limiter to use (to read its limit for metrics, or share it). Default: a new one from these options. */
  limiter?: AdaptiveLimiter;
  /** `Retry-After` of a shed request, in whole seconds. Default 1. */
  retryAfterSeconds?: number;
  /**
   * Requests never shed and not counted (health checks and metrics scrapes must answer under overload).
   * Default: paths `/healthz`, `/readyz`, `/livez`, `/metrics`.
   */
  exempt?: (request: RequestLike & { readonly url: string }) => boolean;
}

const kStart = Symbol('nova.loadShedding.start');
const EXEMPT = new Set(['/healthz', '/readyz', '/livez', '/metrics']);

type Tracked = RequestLike & { readonly url: string; [kStart]?: number | undefined };

function defaultExempt(request: { readonly url: string }): boolean {
  const q = request.url.indexOf('?');
  return EXEMPT.has(q < 0 ? request.url : request.url.slice(0, q));
}

/**
 * Server-side load shedding with an adaptive concurrency limit (`app.register(loadShedding, options)`): a
 * request beyond the limit is answered at once with 503, `Retry-After` and code `RES_ERR_CONCURRENCY_LIMIT`,
 * before any parsing or handler work; the limit is learnt from the latency of the requests served (a 5xx
 * answer counts as a drop), so an overloaded service sheds the excess instead of queueing every request
 * into a timeout.
 */
export const loadShedding = sharedPlugin<LoadSheddingOptions>('nova-load-shedding', (app, options, done) => {
  let limiter: AdaptiveLimiter;
  try {
    limiter = options.limiter ?? new AdaptiveLimiter(options);
  } catch (error) {
    done(error as Error);
    return;
  }
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  const exempt = options.exempt ?? defaultExempt;
  const body = JSON.stringify({
    error: 'the service is at its concurrency limit; retry after the time in Retry-After',
    code: ErrorCodes.CONCURRENCY_LIMIT,
  });
  app.addHook('onRequest', ((request: Tracked, reply: ReplyLike, next: (e?: Error) => void) => {
    if (exempt(request)) return next();
    const start = limiter.tryAcquire();
    if (start < 0) {
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish({ kind: 'shed', policy: limiter.name, limit: limiter.limit });
      reply.code(503).header('retry-after', retryAfter).header('content-type', 'application/json; charset=utf-8');
      reply.send(body);
      return;
    }
    request[kStart] = start;
    next();
  }) as never);
  app.addHook('onResponse', ((request: Tracked, reply: ReplyLike, next: (e?: Error) => void) => {
    const start = request[kStart];
    if (start !== undefined) {
      request[kStart] = undefined;
      limiter.release(start, reply.statusCode >= 500 ? 'dropped' : 'success');
    }
    next();
  }) as never);
  // A caller that hung up tells nothing about capacity; its place is given back without a sample.
  app.addHook('onRequestAbort', ((request: Tracked, next: (e?: Error) => void) => {
    const start = request[kStart];
    if (start !== undefined) {
      request[kStart] = undefined;
      limiter.release(start, 'ignore');
    }
    next();
  }) as never);
  done();
});
