import { isResilienceError, ErrorCodes, requestDeadline, RetryBudget } from '@nova/resilience';
import { createUpstream, HttpError, unavailable } from '@nova/service-kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/** Where messaging finds the other services, and how patiently it calls them. */
export interface MessagingCallsOptions {
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
}

/** What messaging asks of the other services before it stores or reads a message. */
export interface MessagingCalls {
  /** The caller's user id, from the bearer token, checked by auth-service. */
  authenticate(request: FastifyRequest): Promise<string>;
  /** Throws unless the recipient exists; falls back to recently seen recipients when user-service fails. */
  checkRecipient(request: FastifyRequest, id: string): Promise<void>;
}

/**
 * messaging's calls to auth-service and user-service, each behind its upstream's breaker: with auth-service
 * down a request is answered 503 with Retry-After; with user-service down a recently seen recipient comes
 * from a bounded cache (the fallback).
 */
export function messagingCalls(app: FastifyInstance, options: MessagingCallsOptions): MessagingCalls {
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
    // A recipient check is a read: when one replica is slow (but not slow enough to count, below), the check
    // is sent again to the other after the 90th percentile of recent checks, and the first answer wins. The
    // hedges come from a budget (a fifth of the checks, at least 10 a second), so they cannot double the load.
    hedge: { percentile: 0.9, budget: new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 10 }) },
    // Sends can still work without user-service (the fallback): it does not gate readiness.
    requiredForReadiness: false,
  });
  const recipients = new LRUCache<string, true>({
    max: options.recipientCacheSize ?? 10_000,
    ttl: options.recipientCacheTtlMs ?? 600_000,
  });

  /** The caller's user id, from the bearer token, checked by auth-service. */
  async function authenticate(request: FastifyRequest): Promise<string> {
    const header = request.headers.authorization;
    if (!header?.startsWith('Bearer '))
      throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    let res;
    try {
      // Verifying a token changes nothing: safe to retry although it is a POST.
      res = await auth.post(
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

  return { authenticate, checkRecipient };
}
