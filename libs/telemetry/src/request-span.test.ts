import { propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initTracing, REQUEST_SPAN_NAME } from './tracing.ts';
import { UnsampledSpan } from './unsampled-span.ts';

// The provider is process-wide: this file's samples half of the new traces, parent-based (the default kind).
const exporter = new InMemorySpanExporter();
const tracing = initTracing(
  't',
  { OTEL_TRACES_SAMPLER_ARG: '0.5' },
  { spanProcessors: [new SimpleSpanProcessor(exporter)] },
);

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
/** traceparent values: well-formed, with all-zero ids, other versions, extra parts, bad case, spaces, junk. */
const traceparent = fc.oneof(
  fc
    .tuple(fc.constantFrom('00', '01', 'cc', 'ff'), hex(32), hex(16), fc.constantFrom('00', '01', '02', '03', 'ff'))
    .map(([v, t, s, f]) => `${v}-${t}-${s}-${f}`),
  fc.constantFrom(
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-00`,
    `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-00`,
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra',
    'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00',
    ' 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ',
    '',
    'garbage',
  ),
  fc.string(),
);

describe('the request span', () => {
  it('decides as the SDK would: same trace, same flags, same propagated headers, for any traceparent', () => {
    fc.assert(
      fc.property(
        traceparent,
        fc.option(fc.constantFrom('vendor=a', 'a=1,b=2', 'bad state'), { nil: undefined }),
        (tp, ts) => {
          const headers = ts === undefined ? { traceparent: tp } : { traceparent: tp, tracestate: ts };
          const ours = tracing.startRequestSpan(headers);
          // The SDK's own way, on the same provider: extract, then start a span in that context.
          const sdkParent = propagation.extract(ROOT_CONTEXT, headers);
          const sdk = tracing.tracer.startSpan(REQUEST_SPAN_NAME, { kind: SpanKind.SERVER }, sdkParent);
          const callerTrace = trace.getSpanContext(sdkParent);
          if (callerTrace && trace.isSpanContextValid(callerTrace)) {
            // Continuing the caller's trace: every property must agree.
            expect(ours.span.isRecording()).toBe(sdk.isRecording());
            expect(ours.span.spanContext().traceId).toBe(sdk.spanContext().traceId);
            expect(ours.span.spanContext().traceFlags).toBe(sdk.spanContext().traceFlags);
            const mine = tracing.headersOf(ours.span, ours.parent);
            const theirs = tracing.headersOf(sdk, sdkParent);
            expect(mine['traceparent']!.replace(/-[0-9a-f]{16}-/, '-S-')).toBe(
              theirs['traceparent']!.replace(/-[0-9a-f]{16}-/, '-S-'),
            );
            expect(mine['tracestate']).toBe(theirs['tracestate']);
          } else {
            // A new trace: a valid id of its own, decided by the ratio (not comparable draw by draw).
            expect(trace.isSpanContextValid(ours.span.spanContext())).toBe(true);
            expect(ours.span.spanContext().traceId).not.toBe(callerTrace?.traceId);
          }
          sdk.end();
          ours.span.end();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('samples new traces once at the ratio (not the ratio squared), and records those it samples', () => {
    exporter.reset();
    const n = 2_000;
    let recorded = 0;
    for (let i = 0; i < n; i++) {
      const { span } = tracing.startRequestSpan({});
      if (span.isRecording()) recorded++;
      else expect(span).toBeInstanceOf(UnsampledSpan);
      span.end();
    }
    // Binomial(2 000, 0.5): mean 1 000, sd 22; ratio squared would give ~500.
    expect(recorded).toBeGreaterThan(900);
    expect(recorded).toBeLessThan(1_100);
    expect(exporter.getFinishedSpans()).toHaveLength(recorded);
    expect(exporter.getFinishedSpans().every((s) => s.parentSpanContext === undefined)).toBe(true);
  });

  it('makes a dropped span’s id on first use only, and keeps it', () => {
    const { span } = tracing.startRequestSpan({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
    });
    expect(span).toBeInstanceOf(UnsampledSpan);
    const dropped = span as UnsampledSpan;
    expect((dropped as unknown as { context?: unknown }).context).toBeUndefined();
    const first = dropped.spanContext();
    expect(first.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(dropped.spanContext()).toBe(first);
    expect(dropped.headers()).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${first.spanId}-00` });
    // A copy each time: a caller adding its headers does not change the next call's.
    dropped.headers()['x'] = 'y';
    expect(dropped.headers()).not.toHaveProperty('x');
    // The caller's span, as the parent of a span kept after the fact.
    expect(trace.getSpanContext(dropped.parentContext())).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      isRemote: true,
    });
  });
});
