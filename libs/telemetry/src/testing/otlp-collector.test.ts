import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { initTracing } from '../tracing.ts';
import { startOtlpCollector } from './otlp-collector.ts';
import { spanCountInProtobuf, spanNamesInProtobuf } from './otlp-span-names.ts';

const collector = await startOtlpCollector();
afterAll(() => collector.close());

/** Spans with these names, as the SDK records them, serialized as the SDK's protobuf exporter would send them. */
function sdkRequest(names: string[]): Uint8Array {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('names');
  for (const name of names) tracer.startSpan(name, { attributes: { 'url.path': '/x', n: 1 } }).end();
  return ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans())!;
}

describe('the loopback OTLP collector stand-in', () => {
  it('keeps what a real exporter sends it, per sender, with the span names', async () => {
    // The SDK's exporter reads its endpoint from the process's environment.
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.endpoint('stack-a');
    const tracing = initTracing('collector-test', { ...process.env, OTEL_TRACES_SAMPLER: 'always_on' });
    for (let i = 0; i < 7; i++) tracing.tracer.startSpan(`span ${i}`, { attributes: { n: i } }).end();
    await tracing.shutdown();
    const got = collector.received('stack-a');
    expect(got).toMatchObject({ spans: 7, posts: 1 });
    expect(got.bytes).toBeGreaterThan(7 * 20);
    const [post] = collector.exports.filter((e) => e.sender === 'stack-a');
    expect(post!.path).toBe('/stack-a/v1/traces');
    expect(post!.headers['content-type']).toBe('application/x-protobuf');
    expect([...post!.spanNames].sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `span ${i}`));
    expect(collector.received('stack-b')).toEqual({ spans: 0, bytes: 0, posts: 0 });
  });

  it('reads OTLP/HTTP JSON too, and posts to the root endpoint', async () => {
    const body = {
      resourceSpans: [
        { scopeSpans: [{ spans: [{ name: 'a' }, { name: 'b' }] }, { spans: [{ name: 'c' }] }] },
        { scopeSpans: [{ spans: [{}] }] },
      ],
    };
    const res = await fetch(`${collector.endpoint()}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    expect(collector.received()).toMatchObject({ spans: 4, posts: 1 });
    expect(collector.exports.at(-1)!.spanNames).toEqual(['a', 'b', 'c', '']);
  });

  it('answers 404 off its path and 400 to a body that is not an export request, keeping neither', async () => {
    const before = collector.exports.length;
    expect((await fetch(`${collector.endpoint('x')}/v1/metrics`, { method: 'POST', body: '' })).status).toBe(404);
    expect((await fetch(`${collector.endpoint('x')}/v1/traces`)).status).toBe(404);
    const bad = await fetch(`${collector.endpoint('x')}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Uint8Array.from([0x0a, 0x05, 0x12]),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/malformed protobuf/);
    expect(collector.exports.length).toBe(before);
  });

  it("with keep: false, keeps each sender's totals only, and clear forgets them", async () => {
    const lean = await startOtlpCollector({ keep: false });
    try {
      for (const names of [['a', 'b'], ['c']]) {
        const res = await fetch(`${lean.endpoint('s')}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf' },
          body: sdkRequest(names),
        });
        expect(res.status).toBe(200);
      }
      expect(lean.received('s')).toMatchObject({ spans: 3, posts: 2 });
      expect(lean.exports).toEqual([]);
      lean.clear();
      expect(lean.received('s')).toEqual({ spans: 0, bytes: 0, posts: 0 });
    } finally {
      await lean.close();
    }
  });

  it('reads the span names the SDK serializer writes, for any names (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 12 }), (names) => {
        const request = sdkRequest(names);
        expect(spanNamesInProtobuf(request)).toEqual(names);
        expect(spanCountInProtobuf(request)).toBe(names.length);
      }),
      { numRuns: 100 },
    );
  });

  it('walks nested length-delimited fields and skips the others; a truncated body throws', () => {
    // resource_spans { resource (1) {}, scope_spans (2) { scope (1) {}, spans (2) {..}, spans (2) {..} } },
    // a varint field (3), then resource_spans { scope_spans { spans {..} } }
    const span = [0x2a, 0x01, 0x41]; // a span holding its name (field 5): "A"
    const scope = [0x0a, 0x00, 0x12, span.length, ...span, 0x12, span.length, ...span];
    const resource1 = [0x0a, 0x00, 0x12, scope.length, ...scope];
    const scope2 = [0x12, 0x00]; // a span with no field at all: no name
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
    expect(spanNamesInProtobuf(message)).toEqual(['A', 'A', '']);
    expect(spanCountInProtobuf(message)).toBe(3);
    for (const read of [spanNamesInProtobuf, spanCountInProtobuf])
      expect(() => read(message.subarray(0, message.length - 3))).toThrow(/malformed protobuf/);
  });
});
