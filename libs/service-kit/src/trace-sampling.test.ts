import { Writable } from 'node:stream';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createLogger, initTracing } from '@nova/telemetry';
import { describe, expect, it } from 'vitest';
import { createServiceApp } from './service-app.ts';

// The tracer provider is process-wide: this file's process gets one that samples no new trace (ratio 0) and
// records every kept span in memory.
const exporter = new InMemorySpanExporter();
initTracing('t', { OTEL_TRACES_SAMPLER_ARG: '0' }, { spanProcessors: [new SimpleSpanProcessor(exporter)] });

const CALLER = '4bf92f3577b34da6a3ce929d0e0e4736';
const sampledParent = `00-${CALLER}-00f067aa0ba902b7-01`;
const unsampledParent = `00-${CALLER}-00f067aa0ba902b7-00`;

/**
 * An app whose slow threshold is `slowRequestMs`: 10 s by default, far above any fast route, so that a busy
 * machine does not turn one into a kept "slow" span; the slow-request test passes 40 ms for its 60 ms route.
 */
function app(lines?: string[], slowRequestMs = 10_000) {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines?.push(chunk.toString());
      cb();
    },
  });
  const a = createServiceApp({
    name: 't',
    telemetry: 'on',
    slowRequestMs,
    logger: createLogger('t', { level: lines ? 'warn' : 'silent' }, sink),
  });
  a.get('/ok', async () => ({ ok: true }));
  a.get('/boom', async () => {
    throw new Error('boom');
  });
  a.get('/slow', async () => {
    await new Promise((r) => setTimeout(r, 60));
    return { ok: true };
  });
  a.get('/headers', async (request) => request.traceHeaders());
  // Calls out (its headers are the answer), logs, then fails: what a kept span must join up with.
  a.get('/call-then-fail', async (request, reply) => {
    request.log.warn('upstream failed');
    return reply.code(503).send(request.traceHeaders());
  });
  return a;
}

describe('sampled tracing', () => {
  it('records no span for an unsampled request that went well, but still propagates the decision', async () => {
    exporter.reset();
    const a = app();
    expect((await a.inject('/ok')).statusCode).toBe(200);
    const headers = (await a.inject({ url: '/headers', headers: { traceparent: unsampledParent } })).json();
    expect(headers.traceparent).toMatch(new RegExp(`^00-${CALLER}-[0-9a-f]{16}-00$`));
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('records every request of a trace the caller sampled, whatever the ratio', async () => {
    exporter.reset();
    const a = app();
    await a.inject({ url: '/ok', headers: { traceparent: sampledParent } });
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['GET /ok']);
    expect(spans[0]!.spanContext().traceId).toBe(CALLER);
    expect(spans[0]!.attributes['nova.keep']).toBeUndefined();
    expect(spans[0]!.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/ok' });
  });

  it('keeps a span for an unsampled request that failed, in the caller trace, marked as an error', async () => {
    exporter.reset();
    const a = app();
    expect((await a.inject({ url: '/boom', headers: { traceparent: unsampledParent } })).statusCode).toBe(500);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('GET /boom');
    expect(span!.spanContext().traceId).toBe(CALLER);
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span!.attributes).toMatchObject({ 'http.response.status_code': 500, 'nova.kept_because': 'error' });
    expect(span!.status.code).toBe(2);
  });

  it('keeps a span for an unsampled slow request, with its real duration', async () => {
    exporter.reset();
    const a = app(undefined, 40);
    expect((await a.inject('/slow')).statusCode).toBe(200);
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes['nova.kept_because']).toBe('slow');
    const ms = span!.duration[0] * 1000 + span!.duration[1] / 1e6;
    expect(ms).toBeGreaterThanOrEqual(55);
    expect(ms).toBeLessThan(1_000);
  });

  it('keeps a failed request’s span with the span id its calls and log lines carried, so they join up', async () => {
    exporter.reset();
    const lines: string[] = [];
    const a = app(lines);
    const res = await a.inject({ url: '/call-then-fail', headers: { traceparent: unsampledParent } });
    expect(res.statusCode).toBe(503);
    const sent: string = res.json().traceparent;
    expect(sent).toMatch(new RegExp(`^00-${CALLER}-[0-9a-f]{16}-00$`));
    const spanId = sent.split('-')[2];
    const [span] = exporter.getFinishedSpans();
    expect(span?.spanContext()).toMatchObject({ traceId: CALLER, spanId });
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span!.attributes['nova.kept_because']).toBe('error');
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'upstream failed');
    expect(logged).toMatchObject({ trace_id: CALLER, span_id: spanId });
  });
});
