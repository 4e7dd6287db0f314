import { context, diag, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, globalErrorHandler, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { encodeRequest, encodeSpan, type ScopeBatch } from './otlp-spans.ts';
import { ProtoWriter } from './proto-writer.ts';

/** Where encoded requests go: one OTLP `ExportTraceServiceRequest` per call. */
export interface SpanSender {
  send(request: Uint8Array): Promise<ExportResult>;
  /** Waits for the requests sent, then lets go of connections. */
  shutdown(): Promise<void>;
}

/** How an {@link EncodingSpanProcessor} batches; the defaults and variables are the SDK batch processor's. */
export interface BatchLimits {
  /** Spans per request; a batch this full is sent at once. `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512. */
  maxExportBatchSize: number;
  /** How long a span may wait for its batch to fill, in ms. `OTEL_BSP_SCHEDULE_DELAY`, 5,000. */
  scheduledDelayMillis: number;
  /** Spans waiting or being sent beyond which new ones are dropped (a slow collector costs spans, not memory). `OTEL_BSP_MAX_QUEUE_SIZE`, 2,048. */
  maxQueueSize: number;
}

const LIMITS: Record<keyof BatchLimits, [variable: string, fallback: number]> = {
  maxExportBatchSize: ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512],
  scheduledDelayMillis: ['OTEL_BSP_SCHEDULE_DELAY', 5_000],
  maxQueueSize: ['OTEL_BSP_MAX_QUEUE_SIZE', 2_048],
};

/** The batch limits of the SDK's `OTEL_BSP_*` variables; a value that is not a positive whole number is an error naming it. */
export function batchLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): BatchLimits {
  const limits = {} as BatchLimits;
  for (const [key, [variable, fallback]] of Object.entries(LIMITS) as [keyof BatchLimits, [string, number]][]) {
    const raw = env[variable]?.trim();
    const n = raw ? Number(raw) : fallback;
    if (!Number.isInteger(n) || n < 1) throw new Error(`${variable}=${raw} is not valid: use a whole number ≥ 1`);
    limits[key] = n;
  }
  if (limits.maxExportBatchSize > limits.maxQueueSize)
    throw new Error(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${limits.maxExportBatchSize} exceeds OTEL_BSP_MAX_QUEUE_SIZE=${limits.maxQueueSize}: a batch must fit in the queue`,
    );
  return limits;
}

/** The spans of one batch not sent yet, by resource and scope. */
type Pending = Map<Resource, Map<string, ScopeBatch>>;

/**
 * Batches sampled spans for OTLP/HTTP protobuf export as the SDK's `BatchSpanProcessor` does (the same limits and
 * variables), but encodes each span into the batch's protobuf bytes when it ends, instead of holding the span
 * objects until the batch is sent and converting them then.
 *
 * Why: exporting every request's span cost a trivial service ~11 µs per span with the SDK's processor and
 * exporter, several times the span's own cost (docs/benchmarks.md, issue 22). Its batch holds up to 512 span
 * objects for up to 5 s, long enough for them to leave V8's young generation and be collected as old objects,
 * and the serializer then builds an object tree and a list of protobufjs write operations per span. Encoded at
 * once, a span dies young and its batch is a few bytes per attribute. What is sent is checked to read back as
 * what the SDK sends (otlp-spans.test.ts).
 */
export class EncodingSpanProcessor implements SpanProcessor {
  private pending: Pending = new Map();
  /** Spans encoded and not yet sent. */
  private waiting = 0;
  /** Spans sent and not yet answered. */
  private sending = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Spans dropped because the queue was full. */
  dropped = 0;

  constructor(
    private readonly sender: SpanSender,
    private readonly limits: BatchLimits = batchLimitsFromEnv(),
  ) {}

  onStart(_span: Span): void {}

  onEnd(span: ReadableSpan): void {
    if (this.stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.waiting + this.sending >= this.limits.maxQueueSize) {
      if (this.dropped++ === 0) diag.warn('EncodingSpanProcessor: the export queue is full; dropping spans');
      return;
    }
    encodeSpan(this.scopeOf(span), span);
    if (++this.waiting >= this.limits.maxExportBatchSize) this.sendWaiting();
    else this.timer ??= setTimeout(() => this.sendWaiting(), this.limits.scheduledDelayMillis).unref();
  }

  /** Sends what is waiting and resolves when every request sent so far is answered. */
  async forceFlush(): Promise<void> {
    this.sendWaiting();
    await Promise.all([...this.inFlight]);
  }

  /** Flushes, then ends the sender; spans ending after this are not exported. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.forceFlush();
    await this.sender.shutdown();
  }

  private scopeOf(span: ReadableSpan): ProtoWriter {
    let scopes = this.pending.get(span.resource);
    if (scopes === undefined) this.pending.set(span.resource, (scopes = new Map()));
    const scope = span.instrumentationScope;
    // The SDK's grouping key (otlp-transformer), so scopes group alike.
    const key = `${scope.name}@${scope.version || ''}:${scope.schemaUrl || ''}`;
    let batch = scopes.get(key);
    if (batch === undefined) scopes.set(key, (batch = { scope, spans: new ProtoWriter(8 * 1024) }));
    return batch.spans;
  }

  private sendWaiting(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting === 0) return;
    const batch = this.pending;
    const count = this.waiting;
    this.pending = new Map();
    this.waiting = 0;
    this.sending += count;
    const sent = this.send(batch).finally(() => {
      this.sending -= count;
      this.inFlight.delete(sent);
    });
    this.inFlight.add(sent);
  }

  private async send(batch: Pending): Promise<void> {
    try {
      // A resource may still be resolving attributes (a detector's); the SDK's processor waits for them too.
      for (const resource of batch.keys())
        if (resource.asyncAttributesPending) await resource.waitForAsyncAttributes?.();
      const request = encodeRequest([...batch].map(([resource, scopes]) => ({ resource, scopes: scopes.values() })));
      // As the SDK's processor does: an instrumented HTTP client must not trace the export itself.
      const result = await context.with(suppressTracing(context.active()), () => this.sender.send(request));
      if (result.code !== ExportResultCode.SUCCESS)
        globalErrorHandler(result.error ?? new Error('EncodingSpanProcessor: span export failed'));
    } catch (error) {
      globalErrorHandler(error as Error);
    }
  }
}
