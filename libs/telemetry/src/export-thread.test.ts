import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EncodingSpanProcessor, type SpanSender } from './encoding-span-processor.ts';
import { ExportThread } from './export-thread.ts';
import { startOtlpCollector } from './testing/otlp-collector.ts';

const collector = await startOtlpCollector();
afterAll(() => collector.close());

/** One OTLP request holding spans named `names`, as EncodingSpanProcessor encodes it. */
async function encodedRequest(...names: string[]): Promise<Uint8Array> {
  const sent: Uint8Array[] = [];
  const capture: SpanSender = {
    send: async (request) => (sent.push(request), { code: ExportResultCode.SUCCESS }),
    shutdown: async () => {},
  };
  const processor = new EncodingSpanProcessor(capture, {
    maxExportBatchSize: 512,
    scheduledDelayMillis: 5_000,
    maxQueueSize: 2_048,
  });
  const tracer = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'thread-probe' }),
    spanProcessors: [processor],
  }).getTracer('probe-scope');
  for (const name of names) tracer.startSpan(name).end();
  await processor.forceFlush();
  return sent[0]!;
}

describe('ExportThread', () => {
  it('holds the process open while a request awaits its answer, in a process that does nothing else', async () => {
    // The child sends and awaits, twice, nothing more: were the thread let go during a send, it would exit 13.
    // Not spawnSync: the collector answering the child lives in this process, whose loop must keep running.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/send-and-wait.ts', import.meta.url))],
      { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint('waiting') } },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const [status] = (await once(child, 'exit')) as [number | null];
    expect(status).toBe(0);
    // The collector refused both bodies at once (400): the answers came back before the process ended.
    expect(JSON.parse(stdout)).toEqual({ codes: [ExportResultCode.FAILED, ExportResultCode.FAILED] });
  }, 20_000);

  it('sends each request from its thread to the OTLP endpoint of its environment, as the SDK exporter posts it', async () => {
    collector.clear();
    const thread = new ExportThread({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint('thread') } });
    try {
      const request = await encodedRequest('a', 'b');
      expect(await thread.send(request)).toEqual({ code: ExportResultCode.SUCCESS });
      expect(await thread.send(await encodedRequest('c'))).toEqual({ code: ExportResultCode.SUCCESS });
      expect(collector.exports.map((e) => [e.path, e.sender, [...e.spanNames]])).toEqual([
        ['/thread/v1/traces', 'thread', ['a', 'b']],
        ['/thread/v1/traces', 'thread', ['c']],
      ]);
      expect(collector.exports[0]!.headers['content-type']).toBe('application/x-protobuf');
      expect(Buffer.compare(collector.exports[0]!.body, Buffer.from(request))).toBe(0);
    } finally {
      await thread.shutdown();
    }
  }, 20_000);

  it('answers a refused request as failed, with the collector’s reason', async () => {
    const thread = new ExportThread({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint('refused') } });
    try {
      // Not an export request: the collector answers 400, which the SDK does not retry.
      const result = await thread.send(Buffer.from('not protobuf'));
      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toMatch(/Bad Request/);
    } finally {
      await thread.shutdown();
    }
  }, 20_000);

  it('a thread that dies fails what it had not answered, naming why, and the next request starts another', async () => {
    const script = new URL('./fixtures/failing-export-worker.mjs', import.meta.url);
    const thread = new ExportThread({ script });
    const first = await thread.send(new Uint8Array(0));
    expect(first.code).toBe(ExportResultCode.FAILED);
    expect(first.error?.message).toBe('the span export thread exited (code 1): the export thread broke');
    // Answered too (by a new thread, which dies the same way), not left waiting on the dead one.
    expect((await thread.send(new Uint8Array(0))).code).toBe(ExportResultCode.FAILED);
    await thread.shutdown();
  }, 20_000);

  it('after shutdown, requests fail at once; a shutdown before any request has no thread to end', async () => {
    const thread = new ExportThread({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint('late') } });
    await thread.shutdown();
    const result = await thread.send(new Uint8Array(0));
    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error?.message).toBe('the span export thread was shut down');
    expect(collector.received('late').posts).toBe(0);
  });
});
