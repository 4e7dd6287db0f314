/**
 * The span names in an OTLP `ExportTraceServiceRequest` in protobuf, read with a minimal wire-format walk (no
 * generated classes, so a benchmark's collector stand-in costs little): `resource_spans` (field 1) →
 * `scope_spans` (2) → `spans` (2) → `name` (5); every other field is skipped by its wire type. A span without a
 * name (proto3 leaves out empty strings) reads as `''`. Throws on a malformed body.
 */
export function spanNamesInProtobuf(body: Uint8Array): string[] {
  const names: string[] = [];
  const utf8 = new TextDecoder();
  for (const span of spansIn(body)) {
    let name = '';
    for (const bytes of fields(span, 5)) name = utf8.decode(bytes);
    names.push(name);
  }
  return names;
}

/** How many spans an OTLP trace export request in protobuf holds, without reading them; throws if malformed. */
export function spanCountInProtobuf(body: Uint8Array): number {
  let n = 0;
  for (const _span of spansIn(body)) n++;
  return n;
}

/** Each span's bytes: `resource_spans` (1) → `scope_spans` (2) → `spans` (2). */
function* spansIn(body: Uint8Array): Generator<Uint8Array> {
  for (const resourceSpans of fields(body, 1))
    for (const scopeSpans of fields(resourceSpans, 2)) yield* fields(scopeSpans, 2);
}

/** The payloads of the length-delimited fields numbered `wanted` in one protobuf message. */
function* fields(message: Uint8Array, wanted: number): Generator<Uint8Array> {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= message.length || shift > 63) throw new Error('malformed protobuf: a varint runs past the end');
      const byte = message[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < message.length) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (at + length > message.length) throw new Error('malformed protobuf: a field runs past the end');
      if (Math.floor(tag / 8) === wanted) yield message.subarray(at, at + length);
      at += length;
    } else throw new Error(`malformed protobuf: wire type ${wire}`);
    if (at > message.length) throw new Error('malformed protobuf: a field runs past the end');
  }
}
