import {
  createServiceApp,
  createUpstream,
  HttpError,
  unavailable,
  type ServiceAppOptions,
  errorResponseSchema,
} from '@nova/service-kit';
import { ErrorCodes, isResilienceError, isShed, requestDeadline } from '@nova/resilience';
import type { FastifyInstance } from 'fastify';
import type { TokenService } from './tokens.ts';

/** Options of {@link buildAuthApp}. */
export interface AuthAppOptions extends Partial<ServiceAppOptions> {
  /** Base URLs of user-service (replicas). */
  userServiceUrls: string[];
  tokens: TokenService;
  /** Per-attempt budget of calls to user-service, in ms. Default 1 000. */
  upstreamTimeoutMs?: number;
  /** How long the user-service breaker stays open, in ms; also the Retry-After we send. Default 5 000. */
  breakerResetMs?: number;
}

const claimsSchema = {
  type: 'object',
  properties: {
    sub: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    iat: { type: 'integer' },
    exp: { type: 'integer' },
  },
} as const;

/**
 * The auth service: `POST /auth/login` checks credentials with user-service through the resilient client and
 * returns a signed JWT; `POST /auth/verify` returns a token's claims or 401. When user-service cannot answer
 * (down, slow, breaker open) login answers 503 with Retry-After, never 500.
 */
export function buildAuthApp(options: AuthAppOptions): FastifyInstance {
  const app = createServiceApp({ name: 'auth-service', ...options });
  const breakerResetMs = options.breakerResetMs ?? 5_000;
  const users = createUpstream(app, {
    name: 'user-service',
    baseUrls: options.userServiceUrls,
    timeoutMs: options.upstreamTimeoutMs ?? 1_000,
    breaker: { minimumVolume: 5, resetTimeoutMs: breakerResetMs, halfOpenProbes: 2 },
  });
  const { tokens } = options;

  app.post<{ Body: { email: string; password: string } }>(
    '/auth/login',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password'],
          properties: {
            email: { type: 'string', format: 'email', maxLength: 254 },
            password: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { token: { type: 'string' }, tokenType: { type: 'string' }, expiresIn: { type: 'integer' } },
          },
          401: errorResponseSchema,
          503: errorResponseSchema,
        },
      },
    },
    async (request) => {
      let res;
      try {
        // A credentials check reads and changes nothing: safe to retry although it is a POST.
        res = await users.post('/internal/credentials/verify', request.body, {
          idempotent: true,
          headers: request.traceHeaders(),
          deadline: requestDeadline(request),
        });
      } catch (error) {
        // The caller's budget ran out: 504 (service-kit), not a 503 that blames user-service and asks for a retry.
        if (isResilienceError(error, ErrorCodes.DEADLINE_EXCEEDED)) throw error;
        // user-service is up and shedding a surge: its own Retry-After goes to the caller, and nothing is
        // logged per request (a surge would flood the log with what the shed metric already counts).
        if (isShed(error)) {
          const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs ?? 1_000;
          throw unavailable(
            'login is temporarily unavailable: user-service is at capacity',
            Math.ceil(retryAfterMs / 1000),
          );
        }
        request.log.warn({ err: error }, 'user-service unavailable for login');
        throw unavailable('login is temporarily unavailable: user-service does not answer', breakerResetMs / 1000);
      }
      if (res.statusCode === 401) throw new HttpError(401, 'invalid email or password');
      if (res.statusCode !== 200) {
        request.log.error({ status: res.statusCode, body: res.body }, 'unexpected answer from user-service');
        throw unavailable('login is temporarily unavailable', 1);
      }
      const user = res.json<{ id: string; email: string; name: string }>();
      return { token: await tokens.sign(user), tokenType: 'Bearer', expiresIn: tokens.ttlSeconds };
    },
  );

  app.post<{ Body: { token?: string } | undefined }>(
    '/auth/verify',
    {
      schema: {
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } },
        },
        response: { 200: claimsSchema, 401: errorResponseSchema },
      },
    },
    async (request) => {
      const header = request.headers.authorization;
      const token = request.body?.token ?? (header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined);
      if (!token) throw new HttpError(401, 'missing token: send {"token": ...} or an Authorization: Bearer header');
      const claims = await tokens.verify(token);
      if (!claims) throw new HttpError(401, 'invalid or expired token');
      return claims;
    },
  );

  return app;
}
