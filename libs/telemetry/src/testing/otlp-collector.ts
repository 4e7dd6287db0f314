/**
 * A loopback stand-in for an OpenTelemetry collector, for tests and benchmarks (`@nova/telemetry/testing`): it
 * accepts OTLP/HTTP trace exports in protobuf and JSON, answers each with success, and keeps what was posted
 * (path, headers, body, the span names in it), so a test can see what an exporter sent and a benchmark can
 * count what each traced stack exported, as evidence that tracing took effect. Senders may share it: each names
 * itself in its endpoint (`endpoint(name)`; the exporter posts to `<endpoint>/v1/traces`).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spanCountInProtobuf, spanNamesInProtobuf } from './otlp-span-names.ts';

/** One export request as the collector received it. */
export interface ReceivedExport {
  /** The request's path, e.g. `/v1/traces` or `/<name>/v1/traces`. */
  path: string;
  /** The sender's name from the path (`''` when it posted to the root endpoint). */
  sender: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The names of the spans in the request, in order. */
  spanNames: string[];
}

/** What one sender has exported so far. */
export interface ExportTotals {
  spans: number;
  /** Bytes of request bodies. */
  bytes: number;
  posts: number;
}

export interface OtlpCollector {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT` for a sender called `name`, or the root endpoint without one. */
  endpoint(name?: string): string;
  /** Totals of the sender called `name` (`''`: posts to the root endpoint). */
  received(name?: string): ExportTotals;
  /** Every export request so far, oldest first (none kept with `{ keep: false }`). */
  readonly exports: readonly ReceivedExport[];
  /** Forgets what was received. */
  clear(): void;
  close(): Promise<void>;
}

/**
 * Starts a collector on a free loopback port. A POST to a path other than `[/<name>]/v1/traces` gets 404, a body
 * that is not an export request 400 (and is not counted), so a broken sender shows as failed exports. With
 * `keep: false` it keeps only each sender's totals and counts spans without reading their names: a benchmark's
 * stacks export ~100 MB in a run, and the collector shares its process with the load generator.
 */
export async function startOtlpCollector(options: { keep?: boolean } = {}): Promise<OtlpCollector> {
  const keep = options.keep ?? true;
  const exports: ReceivedExport[] = [];
  const totals = new Map<string, ExportTotals>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^(?:\/([^/]+))?\/v1\/traces$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const json = req.headers['content-type'] === 'application/json';
      let spanNames: string[] = [];
      let spans: number;
      try {
        if (json) spanNames = spanNamesInJson(body);
        else if (keep) spanNames = spanNamesInProtobuf(body);
        spans = json || keep ? spanNames.length : spanCountInProtobuf(body);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end((err as Error).message);
        return;
      }
      const sender = match[1] === undefined ? '' : decodeURIComponent(match[1]);
      const t = totals.get(sender) ?? { spans: 0, bytes: 0, posts: 0 };
      t.spans += spans;
      t.bytes += body.length;
      t.posts += 1;
      totals.set(sender, t);
      if (keep) exports.push({ path: req.url!, sender, headers: req.headers, body, spanNames });
      // An empty ExportTraceServiceResponse: everything accepted.
      res
        .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
        .end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint: (name) => (name === undefined ? base : `${base}/${encodeURIComponent(name)}`),
    received: (name = '') => ({ ...(totals.get(name) ?? { spans: 0, bytes: 0, posts: 0 }) }),
    exports,
    clear: () => {
      exports.splice(0);
      totals.clear();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function spanNamesInJson(body: Buffer): string[] {
  const request = JSON.parse(body.toString('utf8')) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ name?: string }> }> }>;
  };
  const names: string[] = [];
  for (const r of request.resourceSpans ?? [])
    for (const s of r.scopeSpans ?? []) for (const span of s.spans ?? []) names.push(span.name ?? '');
  return names;
}
