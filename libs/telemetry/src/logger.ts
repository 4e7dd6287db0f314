import type { Span } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { activeTraceIds } from './tracing.ts';

/** Where {@link bindSpan} leaves a span on a logger, for the mixin to read when (and only when) a line is written. */
const SPAN = Symbol('nova.span');

type WithSpan = Logger & { [SPAN]?: Span };

/**
 * Makes every line `logger` (and its children) writes carry `span`'s trace and span ids. Costs one property
 * write: the ids are formatted only when a line is written, so requests that log nothing (most of them) pay
 * nothing for it — pino's `setBindings` serialized them on every request.
 */
export function bindSpan(logger: Logger, span: Span): void {
  (logger as WithSpan)[SPAN] = span;
}

/** The ids of the span bound to this logger (children see their parent's through the prototype), else of the active span. */
function traceIds(_merge: object, _level: number, logger: Logger): { trace_id?: string; span_id?: string } {
  const span = (logger as WithSpan)[SPAN];
  if (!span) return activeTraceIds();
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/**
 * A pino logger whose every line carries the service name and the trace and span ids of the request's span
 * ({@link bindSpan}) or of the active span, so logs and traces join. Level from `LOG_LEVEL` (default `info`;
 * `silent` in tests).
 */
export function createLogger(service: string, options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const settings: LoggerOptions = {
    level: process.env['LOG_LEVEL'] ?? 'info',
    base: { service, pid: process.pid },
    mixin: traceIds,
    ...options,
  };
  return destination ? pino(settings, destination) : pino(settings);
}

export type { Logger } from 'pino';
