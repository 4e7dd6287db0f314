import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { SpanSender } from './encoding-span-processor.ts';

/** The export thread's answer to one request (export-worker.mjs). */
interface Answer {
  readonly id: number;
  readonly code: ExportResultCode;
  readonly error?: string;
}

/**
 * A {@link SpanSender} whose requests the SDK's OTLP/HTTP transport sends from a worker thread of its own
 * (`export-worker.mjs`; endpoint, headers, timeout, compression and retries from the standard
 * `OTEL_EXPORTER_OTLP_*` variables, as the SDK's exporter reads them). The thread starts with the first request.
 *
 * Why a thread: an HTTP client in the service's own thread cost every request the service served a few µs,
 * though it posted spans only every few seconds (a `GET /users/:id` stack alone, 2026-12-05: 56 µs of CPU per
 * request exporting from the service's thread against 54 from this thread, 54 not exporting; docs/benchmarks.md,
 * issue 22). Client and server share Node's socket, stream and `http` code, and the client's calls leave that
 * code's inline caches serving two kinds of object where the server alone had one; undici instead of `node:http`
 * cost the same. A worker has its own V8 heap and compiled code, so the server's stays as the server made it.
 * The bytes cross once per batch (a copy of tens of kB every few seconds).
 *
 * The thread keeps the process alive only while a request awaits its answer: an idle exporter must not hold a
 * process open, and a flush at shutdown must be answered.
 */
export class ExportThread implements SpanSender {
  private worker: Worker | undefined;
  private next = 0;
  private readonly waiting = new Map<number, (result: ExportResult) => void>();
  private stopped = false;

  private readonly env: NodeJS.ProcessEnv;
  private readonly script: URL;

  /**
   * @param options.env the thread's environment, where the SDK reads `OTEL_EXPORTER_OTLP_*` (default: this process's).
   * @param options.script the thread's module (default `export-worker.mjs`; tests give one that fails).
   */
  constructor(options: { env?: NodeJS.ProcessEnv; script?: URL } = {}) {
    this.env = options.env ?? process.env;
    this.script = options.script ?? new URL('./export-worker.mjs', import.meta.url);
  }

  send(request: Uint8Array): Promise<ExportResult> {
    if (this.stopped) return Promise.resolve(failed('the span export thread was shut down'));
    const worker = (this.worker ??= this.start());
    if (this.waiting.size === 0) worker.ref();
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      worker.postMessage({ id, request });
    });
  }

  /** Waits for the requests sent, then ends the thread; later requests fail. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    if (!worker) return;
    worker.ref();
    const exited = once(worker, 'exit');
    worker.postMessage({ shutdown: true });
    await exited;
  }

  private start(): Worker {
    const worker = new Worker(this.script, { env: this.env });
    worker.unref();
    let crash: Error | undefined;
    worker.on('message', (answer: Answer) => {
      this.answer(
        answer.id,
        answer.code === ExportResultCode.SUCCESS
          ? { code: ExportResultCode.SUCCESS }
          : failed(answer.error ?? 'span export failed'),
      );
    });
    worker.on('error', (error) => (crash = error));
    worker.on('exit', (code) => {
      // Whatever it had not answered fails, with the reason; the next request starts a new thread.
      if (this.worker === worker) this.worker = undefined;
      const reason = `the span export thread exited (code ${code})${crash ? `: ${crash.message}` : ''}`;
      for (const id of [...this.waiting.keys()]) this.answer(id, failed(reason));
    });
    return worker;
  }

  private answer(id: number, result: ExportResult): void {
    const resolve = this.waiting.get(id);
    if (!resolve) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker?.unref();
    resolve(result);
  }
}

function failed(message: string): ExportResult {
  return { code: ExportResultCode.FAILED, error: new Error(message) };
}
