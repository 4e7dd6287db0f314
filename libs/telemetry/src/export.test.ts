import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startOtlpCollector } from './testing/otlp-collector.ts';
import { initTracing, otlpExporter } from './tracing.ts';

const probe = fileURLToPath(new URL('./fixtures/export-probe.ts', import.meta.url));

const collector = await startOtlpCollector();
const endpoint = collector.endpoint();
afterAll(() => collector.close());

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
    collector.clear();
    const { hooks } = await runProbe({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    expect(collector.exports).toHaveLength(1);
    const [post] = collector.exports;
    expect(post!.path).toBe('/v1/traces');
    expect(post!.headers['content-type']).toBe('application/x-protobuf');
    expect([...post!.spanNames].sort()).toEqual(['span 0', 'span 1', 'span 2']);
    // Protobuf keeps strings as UTF-8 bytes: the service's name (a resource attribute) is in the body.
    expect(post!.body.includes('probe-svc')).toBe(true);
    // The SDK's batch processor enters a context on every export; with an AsyncLocalStorage context manager
    // that turned on async hooks for the whole process (see the control below).
    expect(hooks).toBe(false);
  }, 30_000);

  it('a flushed exporter delivers its spans and leaves the process free to exit (no shutdown)', async () => {
    collector.clear();
    // Exits by itself, or the test times out: an idle export thread must not hold the process open, and the one
    // request the flush awaits must be answered before the process may end.
    await runProbe({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, PROBE: 'flush' });
    expect(collector.exports).toHaveLength(1);
    expect([...collector.exports[0]!.spanNames].sort()).toEqual(['span 0', 'span 1', 'span 2']);
  }, 30_000);

  it('the probe sees async hooks when a process has them (control)', async () => {
    expect(await runProbe({ PROBE: 'als' })).toEqual({ hooks: true });
  }, 30_000);

  it('exports OTLP/HTTP JSON when OTEL_EXPORTER_OTLP_PROTOCOL=http/json', async () => {
    collector.clear();
    await runProbe({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    expect(collector.exports).toHaveLength(1);
    expect(collector.exports[0]!.headers['content-type']).toBe('application/json');
    expect([...collector.exports[0]!.spanNames].sort()).toEqual(['span 0', 'span 1', 'span 2']);
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
