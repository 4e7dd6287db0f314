import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import type { ControllerAudit } from '../plan/policy.ts';
import type { ApiAuth, Principal } from './auth.ts';
import { ApiError } from './errors.ts';
import { SESSION_COOKIE, type SessionStore } from './sessions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request, as verified (set by the authentication hook; undefined on public routes). */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Served without credentials (health, login, the OpenAPI document). */
    public?: boolean;
  }
}

/**
 * The dashboard's shell is public: it holds no data, and the page shows a login form when the API answers 401.
 * The routes of @fastify/static cannot carry route config, so they are listed by their route path here.
 */
function isPublicStatic(route: string | undefined): boolean {
  return route === '/' || route === '/index.html' || route === '/app.js' || !!route?.startsWith('/vendor/');
}

/** The host of an Origin header, or undefined for `null` and anything unparsable (a foreign origin). */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Security headers through helmet. The dashboard's one inline script is its import map, allowed by its hash;
 * every other script comes from this origin. No framing (clickjacking), no MIME sniffing, no referrer.
 */
export async function registerHeaders(app: FastifyInstance, indexHtml: string): Promise<void> {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(readFileSync(indexHtml, 'utf8'))?.[1] ?? '';
  const mapHash = createHash('sha256').update(importMap).digest('base64');
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", `'sha256-${mapHash}'`],
        // The page's <style> block and Chart.js's canvas sizing set inline styles.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Served on loopback over plain HTTP: a Strict-Transport-Security header would be wrong here.
    strictTransportSecurity: false,
  });
}

/** Options of {@link registerAuthentication}. */
export interface AuthenticationOptions {
  auth: ApiAuth;
  sessions: SessionStore;
  audit: ControllerAudit;
}

/**
 * Every route but the public ones needs a bearer token, a Basic password or a session cookie. Basic and cookies
 * are sent by a browser by itself, so a mutation carried by either must prove it comes from our page: a custom
 * header (which a cross-site form cannot set) and no foreign Origin. Refusals are audited with a bounded line.
 */
export function registerAuthentication(app: FastifyInstance, options: AuthenticationOptions): void {
  const { auth, sessions, audit } = options;
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.public || isPublicStatic(req.routeOptions.url)) return;
    // What a refusal records of the request: bounded, whatever the caller sent.
    const what = `${req.method.slice(0, 10)} ${req.url.split('?')[0]!.slice(0, 120)}`;
    let principal: Principal | undefined;
    let ambient = false;
    const session = sessions.touch(req.cookies[SESSION_COOKIE], Date.now());
    if (session !== undefined) {
      principal = { actor: session, basic: true };
      ambient = true;
    } else {
      const authn = await auth.authenticate(req.raw);
      if (!authn.ok) {
        if (authn.retryAfterS !== undefined) {
          reply.header('retry-after', String(authn.retryAfterS));
          throw new ApiError(429, 'too many failed or pending logins from this address: retry later');
        }
        audit.write('api', what, 'denied', 'missing or wrong credentials');
        // No Basic challenge for our page's own requests: the browser would pop its dialog over the login form.
        if (req.headers['x-nova-csrf'] === undefined)
          reply.header('www-authenticate', 'Basic realm="Nova Chaos", charset="UTF-8"');
        throw new ApiError(
          401,
          'missing or wrong credentials, or the session ended: log in, or send Authorization: Bearer <token>',
        );
      }
      principal = authn.principal;
      ambient = authn.principal.basic;
    }
    if (ambient && req.method !== 'GET' && req.method !== 'HEAD') checkCsrf(req, audit, what);
    req.principal = principal;
  });
}

/** A mutation by ambient credentials (Basic, cookie) must carry `X-Nova-Csrf: 1` and no foreign Origin. */
export function checkCsrf(req: FastifyRequest, audit: ControllerAudit, what: string): void {
  const origin = req.headers.origin;
  if (req.headers['x-nova-csrf'] !== '1' || (origin !== undefined && hostOf(origin) !== req.headers.host)) {
    audit.write('api', what, 'denied', 'CSRF check failed');
    throw new ApiError(403, 'cross-site request refused: send X-Nova-Csrf: 1 from the dashboard');
  }
}
