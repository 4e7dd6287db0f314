import { bindRequest, type Logger, type ServiceMetrics, type Tracing } from '@nova/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * W3C trace-context headers continuing this request's trace (and its sampling decision), for the calls
     * it makes to other services. Empty with tracing off.
     */
    traceHeaders(): Record<string, string>;
  }
}

/**
 * A trace per request (W3C context from the caller, sampled parent-based; failed and slow requests always
 * kept) and RED metrics per route. `metrics` absent: none recorded (telemetry off).
 *
 * No hook runs when a request arrives: its trace is decided when a log line, an outgoing call
 * (`request.traceHeaders()`) or its end first needs it, and a recorded span is made when it ends
 * (`RequestTraces` in @nova/telemetry says why). The trace travels with the request, not in an
 * AsyncLocalStorage context: on Node 20, entering one turns on async hooks for the whole process.
 */
export function traceRequests(
  app: FastifyInstance,
  opts: {
    tracing: Tracing | undefined;
    metrics: ServiceMetrics | undefined;
    /** A request at least this slow keeps its span even when its trace was not sampled, in ms. */
    slowRequestMs: number;
  },
): void {
  const { tracing, metrics, slowRequestMs } = opts;
  const traces = tracing?.requests;
  app.decorateRequest('traceHeaders', function (this: FastifyRequest): Record<string, string> {
    return traces ? traces.headers(this.raw) : {};
  });
  if (!traces && !metrics) return;
  if (traces) {
    // The request's logger is made per request anyway; binding the raw request to it lets a log line decide
    // and print the trace's ids.
    const child = app.childLoggerFactory;
    app.setChildLoggerFactory(function (logger, bindings, options, raw) {
      const log = child.call(this, logger, bindings, options, raw);
      bindRequest(log as Logger, traces, raw);
      return log;
    });
  }
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const elapsedMs = reply.elapsedTime;
    metrics?.observeRequest(route, request.method, status, elapsedMs / 1000);
    traces?.end(request.raw, {
      method: request.method,
      route,
      path: request.url,
      status,
      elapsedMs,
      // Not sampled, but failed or slow: a span is kept anyway, so sampling never hides the requests a chaos
      // run is about.
      keep: status >= 500 ? 'error' : elapsedMs >= slowRequestMs ? 'slow' : undefined,
    });
    done();
  });
}
