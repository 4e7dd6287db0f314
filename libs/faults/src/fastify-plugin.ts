import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import {
  responseHeaders,
  rewriteBody,
  rewriteRequestHead,
  rewritesBody,
  rewriteStream,
  type HttpRewrite,
} from './http-rewrite.ts';
import type { RequestFacts } from './match.ts';
import type { FaultRuntime } from './runtime.ts';

/** Options of the inbound-fault plugin. */
export interface InboundFaultsOptions {
  runtime: FaultRuntime;
  /** Paths never touched (the observability plane). Default `/metrics`. */
  exempt?: readonly string[];
}

/** The rewrites decided for one request, carried on the raw request from routing to sending. */
interface Pending {
  body: Array<{ rewrite: HttpRewrite; applied: () => void }>;
  response: Array<{ rewrite: HttpRewrite; applied: () => void }>;
}
const PENDING = Symbol('nova.faults.rewrites');
type Marked = IncomingMessage & { [PENDING]?: Pending };

function rawFacts(req: IncomingMessage, path: string): RequestFacts {
  return {
    path,
    method: req.method ?? 'GET',
    port: req.socket?.localPort ?? 0,
    header: (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

const plugin: FastifyPluginCallback<InboundFaultsOptions> = (app, options, done) => {
  if (!options?.runtime) return done(new Error('faults plugin: the `runtime` option is required'));
  const exempt = new Set(options.exempt ?? ['/metrics']);
  rewriteStage(app, options.runtime, exempt);
  requestStage(app, options.runtime, exempt);
  done();
};

/**
 * HTTPChaos replace and patch: request heads rewritten before routing, request bodies while parsing,
 * responses on send. `exempt` paths are never touched.
 */
function rewriteStage(app: FastifyInstance, runtime: FaultRuntime, exempt: ReadonlySet<string>): void {
  // HTTPChaos replace/patch acts before routing, as Chaos Mesh's proxy in front of the pod does: the
  // server's request listener is wrapped, and with no active fault the wrapper costs one length check.
  const server = app.server;
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: unknown) => void>;
  if (listeners.length > 0) {
    server.removeAllListeners('request');
    server.on('request', function (this: unknown, req: Marked, res: unknown) {
      if (runtime.inbound.rules.length > 0) decideRewrites(req);
      for (const l of listeners) l.call(this, req, res);
    });
  }
  const decideRewrites = (req: Marked): void => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (exempt.has(path)) return;
    const facts = rawFacts(req, path);
    const pending: Pending = { body: [], response: [] };
    for (const rule of runtime.inbound.rules) {
      if (rule.stage !== 'rewrite' || !rule.matches(facts)) continue;
      const effect = rule.effect();
      if (effect.type !== 'rewrite') continue;
      const { rewrite, applied } = effect;
      if (rewrite.target === 'response') pending.response.push({ rewrite, applied });
      else {
        rewriteRequestHead(req, rewrite);
        if (rewritesBody(rewrite)) pending.body.push({ rewrite, applied });
        else applied();
      }
    }
    if (pending.body.length || pending.response.length) req[PENDING] = pending;
  };
  app.addHook('preParsing', (request, _reply, payload, next) => {
    const pending = (request.raw as Marked)[PENDING];
    if (!pending?.body.length) return next(null, payload);
    void (async () => {
      let stream: typeof payload = payload;
      let length = 0;
      for (const { rewrite, applied } of pending.body) {
        const next = await rewriteStream(stream, rewrite);
        stream = next.stream as typeof payload;
        length = next.length;
        applied();
      }
      request.headers['content-length'] = String(length);
      return stream;
    })().then(
      (s) => next(null, s),
      (e: Error) => next(e),
    );
  });
  app.addHook('onSend', (request, reply, payload, next) => {
    const pending = (request.raw as Marked)[PENDING];
    if (!pending?.response.length) return next(null, payload);
    let body = payload;
    for (const { rewrite, applied } of pending.response) {
      if (rewrite.replace?.code !== undefined) reply.code(rewrite.replace.code);
      for (const [k, v] of responseHeaders(rewrite, (name) => reply.getHeader(name))) reply.header(k, v);
      if (rewritesBody(rewrite)) {
        const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : undefined;
        // A streamed response is left as it is: rewriting it would mean buffering it whole.
        if (bytes) {
          body = rewriteBody(bytes, rewrite);
          reply.removeHeader('content-length');
        }
      }
      applied();
    }
    next(null, body);
  });
}

/** Delay, abort and error faults on the requests the app receives (routes in `exempt` excepted). */
function requestStage(app: FastifyInstance, runtime: FaultRuntime, exempt: ReadonlySet<string>): void {
  // A callback hook, not an async one: with no active fault the request pays one length check and no promise.
  app.addHook('onRequest', (request, reply, next) => {
    const rules = runtime.inbound.rules;
    if (rules.length === 0) return next();
    const path = request.url.split('?', 1)[0]!;
    if (exempt.has(path)) return next();
    const facts = rawFacts(request.raw, path);
    let i = 0;
    const step = (): void => {
      for (; i < rules.length; i++) {
        const rule = rules[i]!;
        if (rule.stage === 'rewrite' || !rule.matches(facts)) continue;
        const effect = rule.effect();
        if (effect.type === 'delay') {
          i++;
          const { applied } = effect;
          if (!applied) setTimeout(step, effect.ms);
          else {
            const started = performance.now();
            setTimeout(() => {
              applied(performance.now() - started);
              step();
            }, effect.ms);
          }
          return;
        }
        if (effect.type === 'abort') {
          // Drop the connection without an answer, as HTTPChaos abort does.
          reply.hijack();
          request.raw.socket?.destroy();
          return;
        }
        if (effect.type === 'error') {
          reply
            .code(effect.status)
            .header('content-type', 'application/json')
            .header('x-chaos-fault', rule.faultId)
            .send(effect.body);
          return;
        }
      }
      next();
    };
    step();
  });
}

/**
 * Inbound faults for a fastify app: HTTPChaos delay/abort/status and replace/patch, NetworkChaos delay.
 * With no active fault each hook costs one array-length check per request.
 */
export const inboundFaults = fp(plugin, { name: 'nova-inbound-faults', fastify: '5.x' });
