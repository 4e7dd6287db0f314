import { SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import {
  bindSpan,
  KEEP_ATTRIBUTE,
  UnsampledSpan,
  type Logger,
  type ServiceMetrics,
  type Tracing,
} from '@nova/telemetry';
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
    return tracing.headersOf(this.otelSpan, this.otelParent);
  });
  if (tracing) {
    // The span travels on the request object, not in an AsyncLocalStorage context: on Node 20, entering one
    // turns on async hooks for the whole process, a cost no sampling ratio avoids (tracing at 10 % cost as
    // much throughput as tracing every request: docs/benchmarks.md). Handlers pass `request.traceHeaders()`
    // to their outgoing calls instead.
    app.addHook('onRequest', (request, _reply, done) => {
      const { span, parent } = tracing.startRequestSpan(request.headers);
      // Name and attributes are only built for a span that records: most requests are not sampled.
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
        request.otelParent ?? (span instanceof UnsampledSpan ? span.parentContext() : undefined),
      );
      if (status >= 500) kept.setStatus({ code: SpanStatusCode.ERROR });
      kept.end();
    }
    done();
  });
}
