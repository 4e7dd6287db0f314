import { initTracing } from '@nova/telemetry';
import { afterAll, describe, expect, it } from 'vitest';
import { countProtobufSpans, startOtlpSink } from './otlp-sink.ts';

const sink = await startOtlpSink();
afterAll(() => sink.close());

describe('the loopback OTLP sink', () => {
  it('counts the spans a real exporter sends it, per stack', async () => {
    // The SDK's exporter reads its endpoint from the process's environment.
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = sink.endpoint('stack-a');
    const tracing = initTracing('sink-test', { ...process.env, OTEL_TRACES_SAMPLER: 'always_on' });
    for (let i = 0; i < 7; i++) tracing.tracer.startSpan(`span ${i}`, { attributes: { n: i, 'url.path': '/x' } }).end();
    await tracing.shutdown();
    const got = sink.received('stack-a');
    expect(got).toMatchObject({ spans: 7, posts: 1 });
    expect(got.bytes).toBeGreaterThan(7 * 20);
    expect(sink.received('stack-b')).toEqual({ spans: 0, bytes: 0, posts: 0 });
  });

  it('counts OTLP/HTTP JSON too', async () => {
    const body = {
      resourceSpans: [{ scopeSpans: [{ spans: [{}, {}] }, { spans: [{}] }] }, { scopeSpans: [{ spans: [{}] }] }],
    };
    const res = await fetch(`${sink.endpoint('json')}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(sink.received('json').spans).toBe(4);
  });

  it('walks nested length-delimited fields and skips the others; a truncated body throws', () => {
    // resource_spans { resource (1) {}, scope_spans (2) { scope (1) {}, spans (2) {..}, spans (2) {..} } },
    // a varint field (3), then resource_spans { scope_spans { spans {..} } }
    const span = [0x0a, 0x01, 0x41]; // a span holding one 1-byte field
    const scope = [0x0a, 0x00, 0x12, span.length, ...span, 0x12, span.length, ...span];
    const resource1 = [0x0a, 0x00, 0x12, scope.length, ...scope];
    const scope2 = [0x12, span.length, ...span];
    const resource2 = [0x12, scope2.length, ...scope2];
    const message = Uint8Array.from([
      0x0a,
      resource1.length,
      ...resource1,
      0x18,
      0x96,
      0x01,
      0x0a,
      resource2.length,
      ...resource2,
    ]);
    expect(countProtobufSpans(message)).toBe(3);
    expect(() => countProtobufSpans(message.subarray(0, message.length - 2))).toThrow(/malformed protobuf/);
  });
});
