import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODE_METADATA, isIdentityToken, verifyIdentityToken, type ServiceIdentity } from '@nova/proto';
import { AgentErrorCodes, type AgentErrorCode } from './errors.ts';
import type { AgentMetrics } from './metrics.ts';

/** What {@link callerRoles} needs of the agent's options. */
export interface RoleOptions {
  /** The controllers' bearer token. */
  token: string;
  /** The services' bearer token (may only Register); `token` serves both roles when absent. */
  serviceToken?: string;
  /** Refuse the plain services' token: each service must present an identity token. */
  requireIdentity?: boolean;
}

/** Trailing metadata carrying a failed call's stable code, read by `errorCodeOf` of `@nova/proto`. */
export function errorTrailer(code: AgentErrorCode): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(ERROR_CODE_METADATA, code);
  return md;
}

/**
 * The two kinds of caller and what each may do: services may only `Register` (with the services' token or an
 * identity token minted with it), controllers may call everything else (with the controllers' token). Tokens
 * are compared in constant time; every refusal is counted.
 */
export function callerRoles(options: RoleOptions, metrics: AgentMetrics) {
  if (options.serviceToken !== undefined && options.serviceToken === options.token) {
    throw new Error('the service token must differ from the controller token: a service may only register');
  }
  const controllerToken = Buffer.from(`Bearer ${options.token}`);
  const serviceToken = Buffer.from(`Bearer ${options.serviceToken ?? options.token}`);
  const identityKey = options.serviceToken ?? options.token;
  const same = (got: Buffer, expected: Buffer): boolean =>
    got.length === expected.length && timingSafeEqual(got, expected);

  return {
    /**
     * The caller of `Register`: authorized with the services' token (identity unknown: the `Hello` is taken at
     * its word, unless identities are required) or with an identity token whose MAC verifies (the identity it
     * binds is the only one it may register as). Undefined when neither.
     */
    registrant(metadata: grpc.Metadata): { identity: ServiceIdentity | undefined } | undefined {
      const raw = String(metadata.get('authorization')[0] ?? '');
      const bearer = raw.startsWith('Bearer ') ? raw.slice(7) : '';
      if (isIdentityToken(bearer)) {
        const identity = verifyIdentityToken(identityKey, bearer);
        if (identity) return { identity };
      } else if (!options.requireIdentity && same(Buffer.from(raw), serviceToken)) {
        return { identity: undefined };
      }
      metrics.errors.inc({ method: 'Register', code: 'UNAUTHENTICATED' });
      return undefined;
    },

    /**
     * Checks the bearer token by role: `Register` takes the services' token, every other method the
     * controllers'. False (and counted) otherwise: a service's token on a controller method too.
     */
    authorized(metadata: grpc.Metadata, method: string): boolean {
      const got = Buffer.from(String(metadata.get('authorization')[0] ?? ''));
      const ok = same(got, method === 'Register' ? serviceToken : controllerToken);
      if (!ok) metrics.errors.inc({ method, code: 'UNAUTHENTICATED' });
      return ok;
    },

    /** The answer to a caller without the right token. */
    deny: {
      code: grpc.status.UNAUTHENTICATED,
      details: 'missing or wrong bearer token (authorization: Bearer <token>)',
      metadata: errorTrailer(AgentErrorCodes.UNAUTHENTICATED),
    },
  };
}
