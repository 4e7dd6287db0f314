import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace-node';

const random = new RandomIdGenerator();

/**
 * The tracer provider's ids: the SDK's random ones, except that the ids of the next span started can be named
 * in advance. A request's span is recorded when the request ends ({@link RequestTraces}), and by then its ids
 * may already be out: in the `traceparent` of the calls it made and in its log lines. Naming them makes the
 * recorded span the one those calls and lines point to.
 */
export class NamedIds implements IdGenerator {
  private traceId: string | undefined;
  private spanId: string | undefined;

  generateTraceId(): string {
    const id = this.traceId ?? random.generateTraceId();
    this.traceId = undefined;
    return id;
  }

  generateSpanId(): string {
    const id = this.spanId ?? random.generateSpanId();
    this.spanId = undefined;
    return id;
  }

  /**
   * Calls `start`, which must start exactly one span, with that span's ids named: `spanId`, and `traceId` when
   * the span starts a new trace (a span with a parent takes its parent's). Synchronous, so no other span can
   * take the names.
   */
  naming<T>(traceId: string, spanId: string, start: () => T): T {
    this.traceId = traceId;
    this.spanId = spanId;
    try {
      return start();
    } finally {
      this.traceId = undefined;
      this.spanId = undefined;
    }
  }
}

/** A new trace id (32 hex digits), as the SDK makes one. */
export function newTraceId(): string {
  return random.generateTraceId();
}

/** A new span id (16 hex digits), as the SDK makes one. */
export function newSpanId(): string {
  return random.generateSpanId();
}
