/**
 * The span export thread (export-thread.ts says why it is a thread): the SDK's OTLP/HTTP transport, configured by
 * the standard `OTEL_EXPORTER_OTLP_*` variables (endpoint, headers, timeout, compression, retries), sending
 * `ExportTraceServiceRequest`s the service's thread has already encoded.
 *
 * Plain JavaScript, not TypeScript: a worker thread starts without the loader its parent may run under (tsx,
 * vitest), so it must be a module Node runs as it is.
 *
 * Messages in: `{ id, request }` (the encoded bytes) and `{ shutdown: true }`. Messages out: `{ id, code, error? }`,
 * `code` an `ExportResultCode` (0 success, 1 failed) and `error` the failure's message.
 */
import { parentPort } from 'node:worker_threads';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

const delegate = createOtlpHttpExportDelegate(
  convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
  {
    serializeRequest: (request) => request,
    deserializeResponse: ProtobufTraceSerializer.deserializeResponse,
  },
);

parentPort.on('message', (message) => {
  if (message.shutdown) {
    // Waits for the requests sent; then ends the thread, keep-alive sockets and all.
    void delegate.shutdown().finally(() => process.exit(0));
    return;
  }
  delegate.export(message.request, (result) =>
    parentPort.postMessage({ id: message.id, code: result.code, error: result.error?.message }),
  );
});
