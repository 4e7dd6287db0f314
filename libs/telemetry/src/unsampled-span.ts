import { ROOT_CONTEXT, trace, TraceFlags, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace-node';

const ids = new RandomIdGenerator();

/**
 * The span of a request its sampler dropped, made without the SDK's tracer: what the SDK would have returned
 * (a non-recording span in the caller's trace, or in a new one) for what the SDK costs a request — a
 * context per extract, a span object, two ids and a sampler call — most of which a dropped request never
 * uses. Its span id is made on first use: most requests neither log nor call out, and never need it.
 */
export class UnsampledSpan implements Span {
  private context: SpanContext | undefined;
  private carrier: Record<string, string> | undefined;

  /**
   * @param traceId the caller's trace (32 hex digits), or a new one
   * @param parentSpanId the caller's span (16 hex digits); undefined for a new trace
   * @param traceStateHeader the caller's `tracestate`, passed on as received
   */
  constructor(
    readonly traceId: string,
    private readonly parentSpanId: string | undefined,
    private readonly traceStateHeader: string | undefined,
  ) {}

  spanContext(): SpanContext {
    this.context ??= {
      traceId: this.traceId,
      spanId: ids.generateSpanId(),
      traceFlags: TraceFlags.NONE,
      isRemote: false,
      ...(this.traceStateHeader === undefined ? {} : { traceState: new TraceState(this.traceStateHeader) }),
    };
    return this.context;
  }

  /** The caller's span as a context: the parent of a span kept after the fact (a new trace's: the root). */
  parentContext(): Context {
    if (this.parentSpanId === undefined) return ROOT_CONTEXT;
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId: this.traceId,
      spanId: this.parentSpanId,
      traceFlags: TraceFlags.NONE,
      isRemote: true,
      ...(this.traceStateHeader === undefined ? {} : { traceState: new TraceState(this.traceStateHeader) }),
    });
  }

  /** `traceparent` (and `tracestate`) continuing this trace, unsampled, as the W3C propagator writes them. */
  headers(): Record<string, string> {
    if (!this.carrier) {
      const { spanId, traceState } = this.spanContext();
      this.carrier = { traceparent: `00-${this.traceId}-${spanId}-00` };
      // As the W3C propagator does: a tracestate it could not parse goes on empty.
      if (traceState) this.carrier['tracestate'] = traceState.serialize();
    }
    // A copy: callers add their own headers to it.
    return { ...this.carrier };
  }

  isRecording(): boolean {
    return false;
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {}
  recordException(): void {}
}

/** A new trace id (32 hex digits), as the SDK makes one. */
export function newTraceId(): string {
  return ids.generateTraceId();
}
