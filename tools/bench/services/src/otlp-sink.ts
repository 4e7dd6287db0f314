import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for an OpenTelemetry collector, so the benchmark's traced stacks pay for exporting their
 * spans as they would in production (the SDK's batch processor, the OTLP encoding, the HTTP posts). It counts
 * what each stack sent, as evidence that tracing took effect, and answers every export with success. Each stack
 * gets its own endpoint (`<base>/<name>`; the exporter posts to `<endpoint>/v1/traces`).
 */
export interface OtlpSink {
  /** The `OTEL_EXPORTER_OTLP_ENDPOINT` for the stack called `name`. */
  endpoint(name: string): string;
  /** Spans and bytes received from `name` so far. */
  received(name: string): { spans: number; bytes: number; posts: number };
  close(): Promise<void>;
}

/** Starts the sink on a free loopback port. Accepts OTLP/HTTP protobuf and JSON. */
export async function startOtlpSink(): Promise<OtlpSink> {
  const counts = new Map<string, { spans: number; bytes: number; posts: number }>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const name = /^\/([^/]+)\/v1\/traces$/.exec(req.url ?? '')?.[1];
      const json = req.headers['content-type'] === 'application/json';
      if (req.method !== 'POST' || !name) {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const c = counts.get(name) ?? { spans: 0, bytes: 0, posts: 0 };
      c.spans += json ? countJsonSpans(body) : countProtobufSpans(body);
      c.bytes += body.length;
      c.posts += 1;
      counts.set(name, c);
      // An empty ExportTraceServiceResponse: everything accepted.
      res
        .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
        .end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint: (name) => `${base}/${encodeURIComponent(name)}`,
    received: (name) => ({ ...(counts.get(name) ?? { spans: 0, bytes: 0, posts: 0 }) }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function countJsonSpans(body: Buffer): number {
  const request = JSON.parse(body.toString('utf8')) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>;
  };
  let n = 0;
  for (const r of request.resourceSpans ?? []) for (const s of r.scopeSpans ?? []) n += s.spans?.length ?? 0;
  return n;
}

/**
 * Spans in an OTLP `ExportTraceServiceRequest` in protobuf: `resource_spans` (field 1) → `scope_spans` (2) →
 * `spans` (2), each a length-delimited field; the rest is skipped by its wire type. Throws on a malformed body.
 */
export function countProtobufSpans(body: Uint8Array): number {
  let n = 0;
  for (const resourceSpans of fields(body, 1))
    for (const scopeSpans of fields(resourceSpans, 2)) for (const _span of fields(scopeSpans, 2)) n++;
  return n;
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
