import { setTimeout as delay } from 'node:timers/promises';
import { FaultRuntime, inboundFaults } from '@nova/faults';
import { deadlines, onResilienceEvent, type DeadlinesOptions } from '@nova/resilience';
import {
  createLogger,
  createMetrics,
  initTracing,
  telemetryModeFromEnv,
  type Logger,
  type ServiceMetrics,
  type TelemetryMode,
  type Tracing,
} from '@nova/telemetry';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { answerErrors } from './error-answers.ts';
import { registerProbes, type ReadinessCheck } from './probes.ts';
import { traceRequests } from './request-tracing.ts';

export type { ReadinessCheck } from './probes.ts';

/** How long closing waits for the spans still batched to be exported, in ms. */
const SPAN_FLUSH_MS = 2_000;

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
  app.addHook('onClose', async () => {
    events.dispose();
    // The batch processor holds up to 5 s of spans; without a flush, every shutdown would lose them. Bounded:
    // an unreachable collector must not hold the shutdown (its export times out only after 30 s).
    if (tracing) await Promise.race([tracing.flush(), delay(SPAN_FLUSH_MS, undefined, { ref: false })]);
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

  traceRequests(app, { tracing, metrics: telemetry ? metrics : undefined, slowRequestMs });

  answerErrors(app);

  registerProbes(app, { name: options.name, checks, metrics, readinessTimeoutMs: options.readinessTimeoutMs ?? 1_000 });

  return app;
}
