import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { FaultRuntime, inboundFaults } from '@nova/faults';
import { deadlines, ErrorCodes, isResilienceError, onResilienceEvent, type DeadlinesOptions } from '@nova/resilience';
import {
  createLogger,
  createMetrics,
  initTracing,
  KEEP_ATTRIBUTE,
  telemetryModeFromEnv,
  type Logger,
  type ServiceMetrics,
  type TelemetryMode,
  type Tracing,
} from '@nova/telemetry';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { HttpError } from './http-error.ts';

/** A named readiness check: resolves when the dependency is usable. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/** Options of {@link createServiceApp}. */
export interface ServiceAppOptions {
  /** Service name in metrics, traces and logs. */
  name: string;
  /** Largest accepted request body, in bytes (larger → 413). Default 64 KiB. */
  bodyLimit?: number;
  /**
   * Telemetry: `on` (metrics + sampled tracing), `metrics`, `off` (a benchmark's baseline); `true`/`false`
   * mean `on`/`off`. Default `TELEMETRY` (default `on`). Logs stay on.
   */
  telemetry?: boolean | TelemetryMode;
  /** A request at least this slow keeps its span even when its trace was not sampled, in ms. Default `TRACE_SLOW_MS` or 250. */
  slowRequestMs?: number;
  /** Logger to use. Default: pino at `LOG_LEVEL`. */
  logger?: Logger;
  /** Budget of each readiness check, in ms. Default 1 000. */
  readinessTimeoutMs?: number;
  /**
   * End-to-end deadlines (the resilience library's `deadlines` plugin). Default `{ ambient: false }`: the
   * budget is read from `x-request-deadline-ms` / `grpc-timeout`, a request out of time is answered 504, and
   * handlers pass `requestDeadline(request)` to their calls, as they pass `request.traceHeaders()` (no
   * AsyncLocalStorage, for the reason given below).
   */
  deadlines?: DeadlinesOptions;
}

/** What a service gets besides its fastify instance. */
export interface ServiceContext {
  readonly name: string;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly tracing: Tracing | undefined;
  /** Adds a readiness check run by `/readyz`. */
  addReadinessCheck(check: ReadinessCheck): void;
  /**
   * Trace-context headers of the active OpenTelemetry context (empty with telemetry off). Inside a request
   * handler, use `request.traceHeaders()`: requests do not run inside an AsyncLocalStorage context (see
   * {@link createServiceApp}).
   */
  traceHeaders(): Record<string, string>;
  /** Set when shutdown begins: responses then carry `Connection: close` so keep-alive clients let go. */
  draining: boolean;
  /** The in-process faults of this service (driven by the node's chaos agent). */
  readonly faults: FaultRuntime;
}

declare module 'fastify' {
  interface FastifyInstance {
    service: ServiceContext;
  }
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

/** Names the field a validation error is about, as `body.email` or `params.id`. */
function fieldOf(error: FastifyError): string | undefined {
  const v = error.validation?.[0];
  if (!v) return undefined;
  const context = error.validationContext ?? 'body';
  const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
  const path = (v.instancePath ?? '').split('/').filter(Boolean).join('.');
  return [context, path, missing].filter(Boolean).join('.');
}

/**
 * A fastify instance with what every Nova service needs: pino logs with trace ids, an OpenTelemetry span per
 * request (W3C context extracted from the caller, sampled parent-based; failed and slow requests always
 * kept), RED metrics, `/healthz`, `/readyz` and `/metrics`, end-to-end deadlines, a body
 * limit, and errors mapped to clear JSON answers: 400 naming the field, 413 for oversized bodies, the status
 * of an {@link HttpError}, and 500 with no internals for the rest.
 */
export function createServiceApp(options: ServiceAppOptions): FastifyInstance {
  const mode: TelemetryMode =
    options.telemetry === true
      ? 'on'
      : options.telemetry === false
        ? 'off'
        : (options.telemetry ?? telemetryModeFromEnv());
  const telemetry = mode !== 'off';
  const slowRequestMs = options.slowRequestMs ?? Number(process.env['TRACE_SLOW_MS'] ?? 250);
  const logger = options.logger ?? createLogger(options.name);
  const metrics = createMetrics(options.name, { processMetrics: telemetry });
  const tracing = mode === 'on' ? initTracing(options.name) : undefined;
  const checks: ReadinessCheck[] = [];
  const faults = new FaultRuntime();
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    return503OnClosing: true,
    ajv: { customOptions: { allErrors: false, removeAdditional: false, coerceTypes: 'array' } },
  });

  app.decorate('service', {
    name: options.name,
    logger,
    metrics,
    tracing,
    addReadinessCheck: (c: ReadinessCheck) => void checks.push(c),
    traceHeaders: () => tracing?.headers() ?? {},
    draining: false,
    faults,
  });
  // Inbound faults run first of the request hooks, so an injected delay or error looks like the network's.
  void app.register(inboundFaults, { runtime: faults });
  // Every policy's events, counted by kind and policy name (the library's one hook). Process-wide: a
  // process runs one service.
  const events = onResilienceEvent((e) =>
    metrics.resilienceEvents.inc({ service: options.name, kind: e.kind, policy: e.policy }),
  );
  app.addHook('onClose', (_app, done) => {
    events.dispose();
    done();
  });
  // The caller's budget is read after the inbound faults: like the network's delay, an injected one is
  // time the caller's relative budget could not know about.
  void app.register(deadlines, options.deadlines ?? { ambient: false });

  // While draining, close each connection after its response: an idle keep-alive socket would otherwise
  // hold server.close() open until the keep-alive timeout, far past the grace period.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.service.draining) reply.header('connection', 'close');
    done(null, payload);
  });

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
      const span = tracer.startSpan(
        `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': request.url } },
        parent,
      );
      request.otelSpan = span;
      request.otelParent = parent;
      const { traceId, spanId } = span.spanContext();
      (request.log as Logger).setBindings({ trace_id: traceId, span_id: spanId });
      done();
    });
  }

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    if (telemetry) metrics.observeRequest(route, request.method, status, reply.elapsedTime / 1000);
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

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError) {
      return reply.code(error.statusCode).headers(error.headers).send({ error: error.message });
    }
    if (error.validation) {
      const field = fieldOf(error);
      return reply.code(400).send({ error: `invalid ${field ?? 'request'}: ${error.message}`, field });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body larger than ${app.initialConfig.bodyLimit} bytes` });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: error.message });
    }
    if (isResilienceError(error, ErrorCodes.DEADLINE_EXCEEDED)) {
      // The caller's budget ran out while we worked: it has given up, so this is not our failure.
      request.log.info({ code: error.code }, 'request deadline exceeded');
      return reply.code(504).send({ error: error.message, code: error.code });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok', service: options.name }));

  const readinessTimeoutMs = options.readinessTimeoutMs ?? 1_000;
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

  return app;
}
