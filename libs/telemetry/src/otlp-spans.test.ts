import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTraceRequest } from './fixtures/otlp-decode.ts';
import { encodeRequest, encodeSpan, type ResourceBatch } from './otlp-spans.ts';
import { ProtoWriter } from './proto-writer.ts';

const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const scalar = fc.oneof(
  text,
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 53 - 1, -(2 ** 53), 2 ** 63, -(2 ** 70), 1e300, Number.NaN, Infinity),
);
const value = fc.oneof(
  scalar,
  fc.array(fc.oneof(scalar, fc.constant(null), fc.constant(undefined)), { maxLength: 4 }),
  fc.uint8Array({ maxLength: 6 }),
);
const attributes = fc.dictionary(text, value, { maxKeys: 5 }) as fc.Arbitrary<Attributes>;
// Seconds to 2096, and past 2116 (where the encoder's word split gives way to a BigInt), to 2^40.
const hrTime = fc.tuple(
  fc.oneof(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 4_611_686_000, max: 2 ** 40 })),
  fc.integer({ min: 0, max: 999_999_999 }),
);
const traceState = fc.option(
  fc.constantFrom('vendor=value', 'a=1,b=2', 'rojo=00f067aa0ba902b7').map((s) => new TraceState(s)),
  { nil: undefined },
);
const spanContext: fc.Arbitrary<SpanContext> = fc.record({
  traceId: hex(16),
  spanId: hex(8),
  traceFlags: fc.constantFrom(TraceFlags.NONE, TraceFlags.SAMPLED),
  isRemote: fc.option(fc.boolean(), { nil: undefined }),
  traceState,
});
const scope = fc.record({
  name: fc.constantFrom('user-service', 'auth', 'x'),
  version: fc.option(fc.constantFrom('1.0.0', ''), { nil: undefined }),
  schemaUrl: fc.option(fc.constantFrom('https://opentelemetry.io/schemas/1.24.0'), { nil: undefined }),
});

const span: fc.Arbitrary<ReadableSpan> = fc
  .record({
    context: spanContext,
    parent: fc.option(spanContext, { nil: undefined }),
    name: text,
    kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
    startTime: hrTime,
    endTime: hrTime,
    attributes,
    status: fc.record({
      code: fc.constantFrom(SpanStatusCode.UNSET, SpanStatusCode.OK, SpanStatusCode.ERROR),
      message: fc.option(text, { nil: undefined }),
    }),
    events: fc.array(
      fc.record({
        name: text,
        time: hrTime,
        attributes: fc.option(attributes, { nil: undefined }),
        droppedAttributesCount: fc.option(fc.nat(5), { nil: undefined }),
      }),
      { maxLength: 2 },
    ),
    links: fc.array(
      fc.record({
        context: spanContext,
        attributes: fc.option(attributes, { nil: undefined }),
        droppedAttributesCount: fc.option(fc.nat(5), { nil: undefined }),
      }),
      { maxLength: 2 },
    ),
    dropped: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
    scope,
  })
  .map(
    (s) =>
      ({
        name: s.name,
        kind: s.kind,
        spanContext: () => s.context,
        parentSpanContext: s.parent,
        startTime: s.startTime,
        endTime: s.endTime,
        status: s.status,
        attributes: s.attributes,
        links: s.links,
        events: s.events,
        duration: [0, 0],
        ended: true,
        resource: RESOURCE,
        instrumentationScope: s.scope,
        droppedAttributesCount: s.dropped[0],
        droppedEventsCount: s.dropped[1],
        droppedLinksCount: s.dropped[2],
      }) as ReadableSpan,
  );
const RESOURCE = resourceFromAttributes({ 'service.name': 'user-service', 'host.id': 7, ok: true });

/** Our request for `spans`, grouped by scope as the SDK groups them (first seen, first sent). */
function ours(spans: readonly ReadableSpan[]): Uint8Array {
  const scopes = new Map<string, { scope: ReadableSpan['instrumentationScope']; spans: ProtoWriter }>();
  for (const s of spans) {
    const { name, version, schemaUrl } = s.instrumentationScope;
    const key = `${name}@${version ?? ''}:${schemaUrl ?? ''}`;
    let batch = scopes.get(key);
    if (!batch) scopes.set(key, (batch = { scope: s.instrumentationScope, spans: new ProtoWriter(64) }));
    encodeSpan(batch.spans, s);
  }
  const batches: ResourceBatch[] = spans.length ? [{ resource: RESOURCE, scopes: scopes.values() }] : [];
  return encodeRequest(batches);
}

describe('OTLP span encoding', () => {
  it('reads back as what the SDK protobuf serializer sends, for any spans', () => {
    fc.assert(
      fc.property(fc.array(span, { maxLength: 6 }), (spans) => {
        expect(decodeTraceRequest(ours(spans))).toEqual(
          decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans)!),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a long span (its length needs more than one byte) and long strings', () => {
    const [s] = fc.sample(span, { numRuns: 1, seed: 7 });
    const long = { ...s!, name: 'n'.repeat(20_000), attributes: { big: 'é'.repeat(70_000) } } as ReadableSpan;
    const bytes = ours([long]);
    expect(bytes.length).toBeGreaterThan(160_000);
    expect(decodeTraceRequest(bytes)).toEqual(decodeTraceRequest(ProtobufTraceSerializer.serializeRequest([long])!));
  });
});
