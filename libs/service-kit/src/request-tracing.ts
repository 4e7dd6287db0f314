import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { bindSpan, KEEP_ATTRIBUTE, type Logger, type ServiceMetrics, type Tracing } from '@nova/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    otelSpan?: Span;
    otelParent?: Context;
    /**
     * W3C trace-context headers continuing this request's trace (and its sampling decision), for the calls
     * it makes to other services. Empty with tracing off.
     */
    traceHeaders(): Record<string, string>;
  }
}

/** The name a request's span starts with; a recorded span is renamed `<method> <route>`. */
const SPAN_NAME = 'http request';
const SERVER = { kind: SpanKind.SERVER } as const;

/**
 * A span per request (W3C context extracted from the caller, sampled parent-based; failed and slow requests
 * always kept) and RED metrics per route. `metrics` absent: none recorded (telemetry off).
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
  // Declared up front so every request object keeps one shape (fastify's advice): a property first added in a
  // hook gives requests two shapes, and every function that reads them handles both.
  app.decorateRequest('otelSpan', undefined);
  app.decorateRequest('otelParent', undefined);
  app.decorateRequest('traceHeaders', function (this: FastifyRequest): Record<string, string> {
    if (!tracing || !this.otelSpan) return {};
    return tracing.headersFor(trace.setSpan(this.otelParent ?? ROOT_CONTEXT, this.otelSpan));
  });
  if (tracing) {
    const tracer = tracing.tracer;
    // The span travels on the request object, not in an AsyncLocalStorage context: on Node 20, entering one
    // turns on async hooks for the whole process, a cost no sampling ratio avoids (tracing at 10 % cost as
    // much throughput as tracing every request: docs/benchmarks.md). Handlers pass `request.traceHeaders()`
    // to their outgoing calls instead.
    app.addHook('onRequest', (request, _reply, done) => {
      const parent = tracing.extract(request.headers);
      // Name and attributes are only built for a span that records: most requests are not sampled, and our
      // samplers decide on the trace (its parent's flag, its id) alone.
      const span = tracer.startSpan(SPAN_NAME, SERVER, parent);
      if (span.isRecording()) {
        span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`);
        span.setAttributes({ 'http.request.method': request.method, 'url.path': request.url });
      }
      request.otelSpan = span;
      request.otelParent = parent;
      bindSpan(request.log as Logger, span);
      done();
    });
  }

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics?.observeRequest(route, request.method, status, reply.elapsedTime / 1000);
    const span = request.otelSpan;
    if (span?.isRecording()) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    } else if (tracing && (status >= 500 || reply.elapsedTime >= slowRequestMs)) {
      // Not sampled, but failed or slow: keep a span for it after the fact, in the caller's trace, so
      // sampling never hides the requests a chaos run is about.
      const kept = tracing.tracer.startSpan(
        `${request.method} ${route}`,
        {
          kind: SpanKind.SERVER,
          startTime: new Date(Date.now() - reply.elapsedTime),
          attributes: {
            'http.request.method': request.method,
            'url.path': request.url,
            'http.response.status_code': status,
            [KEEP_ATTRIBUTE]: true,
            'nova.kept_because': status >= 500 ? 'error' : 'slow',
          },
        },
        request.otelParent,
      );
      if (status >= 500) kept.setStatus({ code: SpanStatusCode.ERROR });
      kept.end();
    }
    done();
  });
}
