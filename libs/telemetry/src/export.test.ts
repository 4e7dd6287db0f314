import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTracing, otlpExporter } from './tracing.ts';

const probe = fileURLToPath(new URL('./fixtures/export-probe.ts', import.meta.url));

/** What a loopback OTLP collector stand-in received. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
const received: Received[] = [];
const collector = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
    // An empty ExportTraceServiceResponse, in either encoding.
    const json = req.headers['content-type'] === 'application/json';
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    res.end(json ? '{}' : '');
  });
});
let endpoint = '';
beforeAll(async () => {
  await new Promise<void>((ok) => collector.listen(0, '127.0.0.1', ok));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => collector.close(() => ok())));

/** Runs the probe in a child process (tracing is process-wide) and returns what it printed. */
function runProbe(env: Record<string, string>): Promise<{ hooks: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-internals', '--conditions=@nova/source', '--import', 'tsx', probe],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`probe exited ${code}: ${err}`)),
    );
  });
}

describe('span export', () => {
  it('exports over OTLP/HTTP protobuf by default, without turning on async hooks', async () => {
    received.length = 0;
    const { hooks } = await runProbe({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    expect(received).toHaveLength(1);
    const [post] = received;
    expect(post!.path).toBe('/v1/traces');
    expect(post!.headers['content-type']).toBe('application/x-protobuf');
    // Protobuf keeps strings as UTF-8 bytes: every span's name is in the body.
    for (const name of ['span 0', 'span 1', 'span 2', 'probe-svc']) expect(post!.body.includes(name)).toBe(true);
    // The SDK's batch processor enters a context on every export; with an AsyncLocalStorage context manager
    // that turned on async hooks for the whole process (see the control below).
    expect(hooks).toBe(false);
  }, 30_000);

  it('the probe sees async hooks when a process has them (control)', async () => {
    expect(await runProbe({ PROBE: 'als' })).toEqual({ hooks: true });
  }, 30_000);

  it('exports OTLP/HTTP JSON when OTEL_EXPORTER_OTLP_PROTOCOL=http/json', async () => {
    received.length = 0;
    await runProbe({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(received[0]!.body.toString()) as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
    };
    const names = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)));
    expect(names.sort()).toEqual(['span 0', 'span 1', 'span 2']);
  }, 30_000);

  it('rejects a protocol it does not speak, naming the variable and the choices', () => {
    expect(() => otlpExporter({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      'OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: use one of http/protobuf, http/json',
    );
    expect(() => otlpExporter({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' })).toThrow(
      /^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http\/xml is not supported/,
    );
    // At start-up, with no endpoint too (this process's provider is not installed by it: the check comes first).
    expect(() => initTracing('bad', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/,
    );
  });
});
