import type { Attributes, HrTime, Link } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-node';
import { ProtoWriter, Wire } from './proto-writer.ts';

/*
 * OTLP's trace messages, encoded as the SDK's protobuf serializer (`ProtobufTraceSerializer` of
 * @opentelemetry/otlp-transformer) encodes them: the same fields from the same span, checked by decoding both
 * (otlp-spans.test.ts). Field numbers are opentelemetry-proto's (trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto). Zero scalars and empty strings are left out, as proto3 reads them back alike.
 */

/** Span flags (trace.proto `SpanFlags`): the W3C trace flags in the low byte, then whether the parent is remote. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

/** An `AnyValue` (common.proto) in `field`, as the SDK maps attribute values: integers as int64, others as doubles. */
function anyValue(w: ProtoWriter, field: number, value: unknown): void {
  const m = w.begin(field);
  switch (typeof value) {
    case 'string':
      w.string(1, value);
      break;
    case 'boolean':
      w.tag(2, Wire.Varint);
      w.varint(value ? 1 : 0);
      break;
    case 'number':
      if (Number.isInteger(value)) {
        w.tag(3, Wire.Varint);
        w.int64(value);
      } else {
        w.tag(4, Wire.Fixed64);
        w.double(value);
      }
      break;
    case 'object':
      if (value instanceof Uint8Array) w.rawBytes(7, value);
      else if (Array.isArray(value)) {
        const list = w.begin(5);
        for (const v of value) anyValue(w, 1, v);
        w.end(list);
      } else if (value !== null) {
        const list = w.begin(6);
        keyValues(w, 1, value as Record<string, unknown>);
        w.end(list);
      }
      break;
    // null, undefined and the rest: an empty AnyValue, as the SDK sends them.
  }
  w.end(m);
}

/** Repeated `KeyValue`s in `field`, one per key of `attributes`, in its order. */
function keyValues(w: ProtoWriter, field: number, attributes: Attributes | Record<string, unknown>): void {
  for (const key of Object.keys(attributes)) {
    const m = w.begin(field);
    w.string(1, key);
    anyValue(w, 2, attributes[key]);
    w.end(m);
  }
}

function count(w: ProtoWriter, field: number, n: number | undefined): void {
  if (!n) return;
  w.tag(field, Wire.Varint);
  w.varint(n);
}

function time(w: ProtoWriter, field: number, t: HrTime): void {
  w.tag(field, Wire.Fixed64);
  w.hrTime(t);
}

function event(w: ProtoWriter, e: TimedEvent): void {
  const m = w.begin(11);
  time(w, 1, e.time);
  if (e.name) w.string(2, e.name);
  if (e.attributes) keyValues(w, 3, e.attributes);
  count(w, 4, e.droppedAttributesCount);
  w.end(m);
}

function link(w: ProtoWriter, l: Link): void {
  const m = w.begin(13);
  w.hex(1, l.context.traceId);
  w.hex(2, l.context.spanId);
  const state = l.context.traceState?.serialize();
  if (state) w.string(3, state);
  if (l.attributes) keyValues(w, 4, l.attributes);
  count(w, 5, l.droppedAttributesCount);
  w.tag(6, Wire.Fixed32);
  w.fixed32(spanFlags(l.context.traceFlags, l.context.isRemote));
  w.end(m);
}

/** Appends `span` as one `spans` entry (field 2) of a `ScopeSpans` message. */
export function encodeSpan(w: ProtoWriter, span: ReadableSpan): void {
  const m = w.begin(2);
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  w.hex(1, ctx.traceId);
  w.hex(2, ctx.spanId);
  const state = ctx.traceState?.serialize();
  if (state) w.string(3, state);
  if (parent?.spanId) w.hex(4, parent.spanId);
  if (span.name) w.string(5, span.name);
  // The API's kinds start at INTERNAL = 0; OTLP keeps 0 for "unspecified".
  count(w, 6, span.kind == null ? 0 : span.kind + 1);
  time(w, 7, span.startTime);
  time(w, 8, span.endTime);
  keyValues(w, 9, span.attributes);
  count(w, 10, span.droppedAttributesCount);
  for (const e of span.events) event(w, e);
  count(w, 12, span.droppedEventsCount);
  for (const l of span.links) link(w, l);
  count(w, 14, span.droppedLinksCount);
  // Always present, as the SDK sends it, even when unset.
  const status = w.begin(15);
  if (span.status.message) w.string(2, span.status.message);
  count(w, 3, span.status.code);
  w.end(status);
  w.tag(16, Wire.Fixed32);
  w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
  w.end(m);
}

/** The spans of one instrumentation scope, already encoded. */
export interface ScopeBatch {
  readonly scope: ReadableSpan['instrumentationScope'];
  /** Concatenated `spans` entries, from {@link encodeSpan}. */
  readonly spans: ProtoWriter;
}

/** The spans of one resource, by scope. */
export interface ResourceBatch {
  readonly resource: Resource;
  readonly scopes: Iterable<ScopeBatch>;
}

/** An `ExportTraceServiceRequest` (collector/trace/v1) of encoded spans: what is POSTed to `/v1/traces`. */
export function encodeRequest(batches: Iterable<ResourceBatch>): Uint8Array {
  const w = new ProtoWriter(16 * 1024);
  for (const { resource, scopes } of batches) {
    const rs = w.begin(1);
    const r = w.begin(1);
    keyValues(w, 1, resource.attributes);
    w.end(r);
    for (const { scope, spans } of scopes) {
      if (spans.pos === 0) continue;
      const ss = w.begin(2);
      const sc = w.begin(1);
      if (scope.name) w.string(1, scope.name);
      if (scope.version) w.string(2, scope.version);
      w.end(sc);
      w.append(spans);
      if (scope.schemaUrl) w.string(3, scope.schemaUrl);
      w.end(ss);
    }
    if (resource.schemaUrl) w.string(3, resource.schemaUrl);
    w.end(rs);
  }
  return w.bytes();
}
