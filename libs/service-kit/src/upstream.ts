import { createHttpClient, type HttpClient, type HttpClientOptions } from '@nova/resilience';
import { FaultDispatcher } from '@nova/faults';
import type { FastifyInstance } from 'fastify';
import { Agent } from 'undici';

/** Options of {@link createUpstream}: the HTTP client's, minus what the service wires itself. */
export type UpstreamOptions = Omit<HttpClientOptions, 'traceHeaders' | 'onAttempt' | 'onBreakerStateChange'> & {
  name: string;
  /** Also make `/readyz` depend on the upstream's `/healthz`. Default true. */
  requiredForReadiness?: boolean;
};

function outcomeOf(statusCode: number | undefined, error: unknown): string {
  if (statusCode !== undefined) return String(statusCode);
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'error';
}

/**
 * A resilient client for another service, wired into this service's telemetry: its name as User-Agent and
 * trace context on every call,
 * `upstream_requests_total` per attempt, `circuit_breaker_state{upstream}` on every transition, a log line per
 * transition, and closed with the app.
 */
export function createUpstream(app: FastifyInstance, options: UpstreamOptions): HttpClient {
  const { service } = app;
  const { requiredForReadiness = true, ...clientOptions } = options;
  // Outbound faults sit under the resilient client, so its timeouts, retries and breakers meet them as
  // they would meet a real network problem.
  const agent = options.dispatcher ? undefined : new Agent({ keepAliveTimeout: 4_000 });
  const client: HttpClient = createHttpClient({
    ...clientOptions,
    // Who calls: the upstream's logs name the caller, and a fault can pick one caller's requests (HTTPChaos
    // request_headers: { User-Agent: messaging-service }).
    headers: { 'user-agent': service.name, ...clientOptions.headers },
    dispatcher: options.dispatcher ?? new FaultDispatcher(agent!, service.faults, { upstream: options.name }),
    traceHeaders: service.traceHeaders,
    onAttempt: (e) =>
      service.metrics.upstreamRequests.inc({
        service: service.name,
        upstream: options.name,
        outcome: outcomeOf(e.statusCode, e.error),
      }),
    onBreakerStateChange: (e) => {
      service.metrics.setBreakerState(options.name, client.state);
      service.logger.warn(
        { upstream: options.name, endpoint: e.endpoint, state: e.state },
        'circuit breaker state changed',
      );
    },
  });
  service.metrics.setBreakerState(options.name, 0);
  if (requiredForReadiness) {
    service.addReadinessCheck({
      name: options.name,
      check: async () => {
        const res = await client.get('/healthz');
        if (res.statusCode !== 200) throw new Error(`${options.name} /healthz answered ${res.statusCode}`);
      },
    });
  }
  app.addHook('onClose', async () => {
    client.close();
    await agent?.close();
  });
  return client;
}
