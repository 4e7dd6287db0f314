import { SamplingDecision, type Sampler } from '@opentelemetry/sdk-trace-node';
import { ExportResultCode, loggingErrorHandler, setGlobalErrorHandler, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  batchLimitsFromEnv,
  EncodingSpanProcessor,
  type BatchLimits,
  type SpanSender,
} from './encoding-span-processor.ts';
import { decodeTraceRequest } from './fixtures/otlp-decode.ts';

const names = (b: Uint8Array) =>
  decodeTraceRequest(b).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)));

/** A sender that records what it is sent and answers as told (at once, by default with success). */
function recordingSender(answer: () => Promise<ExportResult> = async () => ({ code: ExportResultCode.SUCCESS })) {
  const sent: Uint8Array[] = [];
  const sender: SpanSender & { sent: Uint8Array[]; shutdowns: number } = {
    sent,
    shutdowns: 0,
    send: (request) => {
      sent.push(request);
      return answer();
    },
    shutdown: async () => void sender.shutdowns++,
  };
  return sender;
}

/** A provider whose spans go to `processor` only (not registered: nothing global changes). */
function tracerFor(processor: EncodingSpanProcessor, sampler?: Sampler) {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'probe' }),
    spanProcessors: [processor],
    ...(sampler ? { sampler } : {}),
  });
  return provider.getTracer('probe-scope');
}
const end = (tracer: ReturnType<typeof tracerFor>, ...spanNames: string[]) =>
  spanNames.forEach((n) => tracer.startSpan(n).end());

const limits = (l: Partial<BatchLimits> = {}): BatchLimits => ({
  maxExportBatchSize: 3,
  scheduledDelayMillis: 5_000,
  maxQueueSize: 6,
  ...l,
});

describe('EncodingSpanProcessor', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends a full batch at once, as one OTLP request naming its resource and scope', () => {
    const sender = recordingSender();
    const tracer = tracerFor(new EncodingSpanProcessor(sender, limits()));
    end(tracer, 'a', 'b');
    expect(sender.sent).toHaveLength(0);
    end(tracer, 'c');
    expect(sender.sent).toHaveLength(1);
    const request = decodeTraceRequest(sender.sent[0]!);
    expect(request.resourceSpans[0]!.resource.attributes.map((a) => a.key)).toContain('service.name');
    expect(request.resourceSpans[0]!.scopeSpans[0]!.scope.name).toBe('probe-scope');
    expect(names(sender.sent[0]!)).toEqual(['a', 'b', 'c']);
  });

  it('sends a partial batch when the schedule delay has passed since its first span, not before', async () => {
    const sender = recordingSender();
    const tracer = tracerFor(new EncodingSpanProcessor(sender, limits()));
    end(tracer, 'a');
    await vi.advanceTimersByTimeAsync(2_000);
    end(tracer, 'b');
    await vi.advanceTimersByTimeAsync(2_999);
    expect(sender.sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sender.sent.map(names)).toEqual([['a', 'b']]);
  });

  it('sends only sampled spans (one recorded but not sampled is not exported)', async () => {
    const sender = recordingSender();
    const recordOnly: Sampler = { shouldSample: () => ({ decision: SamplingDecision.RECORD }) };
    const processor = new EncodingSpanProcessor(sender, limits());
    end(tracerFor(processor, recordOnly), 'recorded', 'only');
    await processor.forceFlush();
    expect(sender.sent).toHaveLength(0);
  });

  it('drops spans past the queue size while a slow collector holds its batches, and takes them again after', async () => {
    let answer: (r: ExportResult) => void = () => {};
    const sender = recordingSender(() => new Promise((ok) => (answer = ok)));
    const processor = new EncodingSpanProcessor(sender, limits({ maxExportBatchSize: 2, maxQueueSize: 2 }));
    const tracer = tracerFor(processor);
    end(tracer, 'a', 'b', 'c', 'd');
    expect(sender.sent.map(names)).toEqual([['a', 'b']]);
    expect(processor.dropped).toBe(2);
    answer({ code: ExportResultCode.SUCCESS });
    await processor.forceFlush();
    end(tracer, 'e', 'f');
    expect(sender.sent.map(names)).toEqual([
      ['a', 'b'],
      ['e', 'f'],
    ]);
  });

  it('forceFlush sends what waits and resolves only once the collector answered', async () => {
    let answer: (r: ExportResult) => void = () => {};
    const sender = recordingSender(() => new Promise((ok) => (answer = ok)));
    const processor = new EncodingSpanProcessor(sender, limits());
    end(tracerFor(processor), 'a');
    let flushed = false;
    const flushing = processor.forceFlush().then(() => (flushed = true));
    expect(sender.sent.map(names)).toEqual([['a']]);
    await vi.advanceTimersByTimeAsync(10);
    expect(flushed).toBe(false);
    answer({ code: ExportResultCode.SUCCESS });
    await flushing;
    expect(flushed).toBe(true);
  });

  it('shutdown flushes, ends the sender once, and exports nothing after', async () => {
    const sender = recordingSender();
    const processor = new EncodingSpanProcessor(sender, limits());
    const tracer = tracerFor(processor);
    end(tracer, 'a');
    await processor.shutdown();
    await processor.shutdown();
    end(tracer, 'late');
    await processor.forceFlush();
    expect(sender.sent.map(names)).toEqual([['a']]);
    expect(sender.shutdowns).toBe(1);
  });

  it('reports a failed export to the global error handler and goes on exporting', async () => {
    const errors: unknown[] = [];
    setGlobalErrorHandler((e) => errors.push(e));
    let fail = true;
    const sender = recordingSender(async () =>
      fail
        ? { code: ExportResultCode.FAILED, error: new Error('collector said 503') }
        : { code: ExportResultCode.SUCCESS },
    );
    const processor = new EncodingSpanProcessor(sender, limits());
    const tracer = tracerFor(processor);
    end(tracer, 'a');
    await processor.forceFlush();
    expect(errors.map(String)).toEqual(['Error: collector said 503']);
    fail = false;
    end(tracer, 'b');
    await processor.forceFlush();
    expect(sender.sent.map(names)).toEqual([['a'], ['b']]);
    expect(errors).toHaveLength(1);
    setGlobalErrorHandler(loggingErrorHandler());
  });
});

describe('batchLimitsFromEnv', () => {
  it("has the SDK batch processor's defaults and reads its variables", () => {
    expect(batchLimitsFromEnv({})).toEqual({
      maxExportBatchSize: 512,
      scheduledDelayMillis: 5_000,
      maxQueueSize: 2_048,
    });
    expect(batchLimitsFromEnv({ OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: ' 64 ' })).toEqual({
      maxExportBatchSize: 64,
      scheduledDelayMillis: 200,
      maxQueueSize: 2_048,
    });
  });

  it('names the variable and the fix for a value that is not a positive whole number, or a batch larger than the queue', () => {
    expect(() => batchLimitsFromEnv({ OTEL_BSP_MAX_QUEUE_SIZE: 'lots' })).toThrow(
      'OTEL_BSP_MAX_QUEUE_SIZE=lots is not valid: use a whole number ≥ 1',
    );
    expect(() => batchLimitsFromEnv({ OTEL_BSP_SCHEDULE_DELAY: '0' })).toThrow('OTEL_BSP_SCHEDULE_DELAY=0');
    expect(() => batchLimitsFromEnv({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096' })).toThrow(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096 exceeds OTEL_BSP_MAX_QUEUE_SIZE=2048',
    );
  });
});
