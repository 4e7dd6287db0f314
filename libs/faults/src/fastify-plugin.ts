import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { FaultRuntime } from './runtime.ts';

/** Options of the inbound-fault plugin. */
export interface InboundFaultsOptions {
  runtime: FaultRuntime;
  /** Paths never touched (the observability plane). Default `/metrics`. */
  exempt?: readonly string[];
}

const plugin: FastifyPluginCallback<InboundFaultsOptions> = (app, options, done) => {
  if (!options?.runtime) return done(new Error('faults plugin: the `runtime` option is required'));
  const { runtime } = options;
  const exempt = new Set(options.exempt ?? ['/metrics']);

  // A callback hook, not an async one: with no active fault the request pays one length check and no promise.
  app.addHook('onRequest', (request, reply, next) => {
    const rules = runtime.inbound.rules;
    if (rules.length === 0) return next();
    const path = request.url.split('?', 1)[0]!;
    if (exempt.has(path)) return next();
    const facts = {
      path,
      method: request.method,
      port: request.socket?.localPort ?? 0,
      header: (name: string) => {
        const v = request.headers[name];
        return Array.isArray(v) ? v[0] : v;
      },
    };
    let i = 0;
    const step = (): void => {
      for (; i < rules.length; i++) {
        const rule = rules[i]!;
        if (!rule.matches(facts)) continue;
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
        reply.code(effect.status).header('content-type', 'application/json').header('x-chaos-fault', rule.faultId).send(effect.body);
        return;
      }
      next();
    };
    step();
  });
  done();
};

/**
 * Inbound faults (HTTPChaos delay/abort/status, NetworkChaos delay) for a fastify app. With no active fault
 * the hook costs one array-length check per request.
 */
export const inboundFaults = fp(plugin, { name: 'nova-inbound-faults', fastify: '5.x' });
