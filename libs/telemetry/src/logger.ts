import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { RequestTraces, TracedRequest } from './request-traces.ts';
import { activeTraceIds } from './tracing.ts';

/** Where {@link bindRequest} leaves a request on a logger, for the mixin to read when (and only when) a line is written. */
const REQUEST = Symbol('nova.request');
const TRACES = Symbol('nova.request-traces');

type WithRequest = Logger & { [REQUEST]?: TracedRequest; [TRACES]?: RequestTraces };

/**
 * Makes every line `logger` (and its children) writes carry the trace and span ids of `request`'s trace.
 * Costs two property writes: the trace is decided and its ids formatted only when a line is written, so
 * requests that log nothing (most of them) pay nothing for it.
 */
export function bindRequest(logger: Logger, traces: RequestTraces, request: TracedRequest): void {
  (logger as WithRequest)[TRACES] = traces;
  (logger as WithRequest)[REQUEST] = request;
}

/** The ids of the request bound to this logger (children see their parent's through the prototype), else of the active span. */
function traceIds(_merge: object, _level: number, logger: Logger): { trace_id?: string; span_id?: string } {
  const { [TRACES]: traces, [REQUEST]: request } = logger as WithRequest;
  if (!traces || !request) return activeTraceIds();
  const { traceId, spanId } = traces.ids(request);
  return { trace_id: traceId, span_id: spanId };
}

/**
 * A pino logger whose every line carries the service name and the trace and span ids of the request's span
 * ({@link bindRequest}) or of the active span, so logs and traces join. Level from `LOG_LEVEL` (default `info`;
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
