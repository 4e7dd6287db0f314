import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics.ts';

/** The Prometheus metrics every Nova service exports, on one registry. */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** `circuit_breaker_state{service,upstream}`: 0 closed, 1 open, 2 half-open. */
  readonly breakerState: Gauge<'service' | 'upstream'>;
  /** `upstream_requests_total{service,upstream,outcome}`: attempts to other services. */
  readonly upstreamRequests: Counter<'service' | 'upstream' | 'outcome'>;
  /** `fallback_used_total{service,upstream}`: answers served by a fallback. */
  readonly fallbacks: Counter<'service' | 'upstream'>;
  /** `resilience_events_total{service,kind,policy}`: retries, give-ups, timeouts, breaker transitions, sheds… */
  readonly resilienceEvents: Counter<'service' | 'kind' | 'policy'>;
  /**
   * Records one finished HTTP request in `http_requests_total` and `http_request_duration_seconds`
   * `{service,route,method,status}` (see {@link RequestMetrics}); `seconds` is its latency.
   */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Sets the breaker gauge of one upstream. */
  setBreakerState(upstream: string, state: number): void;
}

/** Latency buckets in seconds: 1 ms to 10 s, dense where our SLOs sit (50–500 ms). */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 2.5, 5, 10];

/** HTTP methods kept as label values; any other method is counted as `OTHER`, so a client cannot grow the label set. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Creates the metrics of one service (with Node process metrics) on a fresh registry. */
export function createMetrics(service: string, options: { processMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  // The event-loop delay monitor samples with a libuv timer; at prom-client's default 10 ms it wakes each
  // service 100 times a second whether or not requests come. 100 ms still gives the lag percentiles.
  if (options.processMetrics !== false)
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const requests = new RequestMetrics(service, BUCKETS);
  requests.register(registry);
  const breakerState = new Gauge({
    name: 'circuit_breaker_state',
    help: 'State of the circuit breaker towards an upstream: 0 closed, 1 open, 2 half-open.',
    labelNames: ['service', 'upstream'] as const,
    registers: [registry],
  });
  const upstreamRequests = new Counter({
    name: 'upstream_requests_total',
    help: 'Attempts to call another service, by outcome (status code, or the error code).',
    labelNames: ['service', 'upstream', 'outcome'] as const,
    registers: [registry],
  });
  const fallbacks = new Counter({
    name: 'fallback_used_total',
    help: 'Answers served by a fallback because an upstream failed.',
    labelNames: ['service', 'upstream'] as const,
    registers: [registry],
  });
  const resilienceEvents = new Counter({
    name: 'resilience_events_total',
    help: 'Events of the resilience policies (retry, give-up, timeout, breaker-state, bulkhead-rejected, fallback, hedge, shed, limit-change), by policy name.',
    labelNames: ['service', 'kind', 'policy'] as const,
    registers: [registry],
  });
  return {
    registry,
    resilienceEvents,
    breakerState,
    upstreamRequests,
    fallbacks,
    observeRequest(route, method, status, seconds) {
      requests.observe(route, METHODS.has(method) ? method : 'OTHER', status, seconds);
    },
    setBreakerState(upstream, state) {
      breakerState.set({ service, upstream }, state);
    },
  };
}
