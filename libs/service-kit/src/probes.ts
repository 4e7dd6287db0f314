import type { ServiceMetrics } from '@nova/telemetry';
import type { FastifyInstance } from 'fastify';

/** A named readiness check: resolves when the dependency is usable. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * `/healthz` (the process answers), `/readyz` (every readiness check within its budget, else 503 naming the
 * failed ones) and `/metrics` (Prometheus text).
 */
export function registerProbes(
  app: FastifyInstance,
  opts: {
    name: string;
    /** Read at each `/readyz`, so checks added later count. */
    checks: readonly ReadinessCheck[];
    metrics: ServiceMetrics;
    /** Budget of each readiness check, in ms. */
    readinessTimeoutMs: number;
  },
): void {
  const { checks, metrics, readinessTimeoutMs } = opts;
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok', service: opts.name }));

  app.get('/readyz', { logLevel: 'silent' }, async (_request, reply) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            c.check(),
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`no answer within ${readinessTimeoutMs} ms`)),
                readinessTimeoutMs,
              );
            }),
          ]);
          return { name: c.name, ok: true as const };
        } catch (error) {
          return { name: c.name, ok: false as const, error: (error as Error).message };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
  });

  app.get('/metrics', { logLevel: 'silent' }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
