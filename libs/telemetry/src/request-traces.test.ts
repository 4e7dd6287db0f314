import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REQUEST_SPAN_NAME, RequestTraces, type TracedRequest } from './request-traces.ts';
import { KeepSampler, samplerFromEnv } from './sampling.ts';

const RESOURCE = resourceFromAttributes({ 'service.name': 'svc' });

/** Request traces on a provider of their own (nothing global), sampled as `env` says, spans kept in memory. */
function setup(env: NodeJS.ProcessEnv, chosen = samplerFromEnv(env)) {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    sampler: chosen.sampler,
    resource: RESOURCE,
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('t');
  const traces = new RequestTraces({ resource: RESOURCE, scope: { name: 't' }, processors: [processor] }, chosen);
  return { traces, exporter, tracer };
}

const w3c = new W3CTraceContextPropagator();
const CALLER = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const request = (headers: TracedRequest['headers'] = {}): TracedRequest => ({ headers });
const ended = { method: 'GET', route: '/x', path: '/x', status: 200, elapsedMs: 3 };
const traceparentOf = (span: ReadableSpan) =>
  `00-${span.spanContext().traceId}-${span.spanContext().spanId}-0${span.spanContext().traceFlags}`;

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
/** traceparent values: well-formed, with all-zero ids, other versions, extra parts, bad case, spaces, junk. */
const traceparent = fc.oneof(
  fc
    .tuple(fc.constantFrom('00', '01', 'cc', 'ff'), hex(32), hex(16), fc.constantFrom('00', '01', '02', '03', 'ff'))
    .map(([v, t, s, f]) => `${v}-${t}-${s}-${f}`),
  fc.constantFrom(
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-00`,
    `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-00`,
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra',
    'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00',
    ' 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ',
    '',
    'garbage',
  ),
  fc.string(),
);

describe('request traces', () => {
  it.each([
    ['parent-based (the default kind)', { OTEL_TRACES_SAMPLER_ARG: '0.5' }],
    ['a ratio that ignores the caller', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' }],
  ])('decide and propagate as the SDK would for any traceparent: %s', (_kind, env) => {
    const { traces, tracer } = setup(env);
    fc.assert(
      fc.property(
        fc.oneof(traceparent, fc.array(traceparent, { minLength: 1, maxLength: 2 })),
        fc.option(fc.constantFrom('vendor=a', 'a=1,b=2', 'bad state', ['a=1', 'b=2']), { nil: undefined }),
        (tp, ts) => {
          const headers = ts === undefined ? { traceparent: tp } : { traceparent: tp, tracestate: ts };
          const ours = traces.headers(request(headers));
          // The SDK's way, with the same sampler: extract, start a span in that context, inject it.
          const parent = w3c.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
          const sdk = tracer.startSpan(REQUEST_SPAN_NAME, { kind: SpanKind.SERVER }, parent);
          const theirs: Record<string, string> = {};
          w3c.inject(trace.setSpan(parent, sdk), theirs, defaultTextMapSetter);
          sdk.end();
          const caller = trace.getSpanContext(parent);
          const strip = (h: string) => h.replace(/-[0-9a-f]{16}-/, '-S-');
          if (caller && trace.isSpanContextValid(caller)) {
            // Continuing the caller's trace: trace, flags and tracestate agree; only the span id is drawn.
            // (With a ratio sampler both decide on the same trace id, so the flags agree draw by draw.)
            expect(strip(ours['traceparent']!)).toBe(strip(theirs['traceparent']!));
            expect(ours['tracestate']).toBe(theirs['tracestate']);
          } else {
            // A new trace: a valid id of its own (the ratio's draws are not comparable one by one).
            expect(ours['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
            expect(ours['traceparent']).not.toContain('0'.repeat(32));
            expect(ours).not.toHaveProperty('tracestate');
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('samples new traces once at the ratio (not the ratio squared) and records those it samples, as roots', () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0.5' });
    const n = 2_000;
    let sampled = 0;
    for (let i = 0; i < n; i++) {
      const r = request();
      if (traces.sampled(r)) sampled++;
      traces.end(r, ended);
    }
    // Binomial(2 000, 0.5): mean 1 000, sd 22; the ratio squared would give ~500.
    expect(sampled).toBeGreaterThan(900);
    expect(sampled).toBeLessThan(1_100);
    expect(exporter.getFinishedSpans()).toHaveLength(sampled);
    expect(exporter.getFinishedSpans().every((s) => s.parentSpanContext === undefined)).toBe(true);
  });

  it('records every request it said was sampled, even when its sampler would answer differently if asked again', () => {
    // A sampler that draws afresh on each call (none of ours does; a custom one might): asked again at the end,
    // it would record half of the sampled requests, whose calls had already said "sampled" downstream.
    const coin: Sampler = {
      shouldSample: () => ({
        decision: Math.random() < 0.5 ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
      }),
    };
    const { traces, exporter } = setup(
      {},
      {
        sampler: new KeepSampler(coin),
        root: coin,
        parentBased: false,
        description: 'coin',
        ratio: 0.5,
      },
    );
    let sampled = 0;
    for (let i = 0; i < 400; i++) {
      const r = request();
      if (traces.sampled(r)) sampled++;
      traces.end(r, ended);
    }
    expect(sampled).toBeGreaterThan(100);
    expect(exporter.getFinishedSpans()).toHaveLength(sampled);
  });

  it.each([
    ['parentbased_always_on', 200],
    ['parentbased_always_off', 0],
  ])('with %s, records %i of 200 new traces', (sampler, expected) => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER: sampler });
    for (let i = 0; i < 200; i++) traces.end(request(), ended);
    expect(exporter.getFinishedSpans()).toHaveLength(expected);
  });

  it('records a sampled request with the ids its calls and log lines carried, under the caller’s span', () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const r = request({ traceparent: `00-${CALLER}-${CALLER_SPAN}-01`, tracestate: 'vendor=a' });
    const sent = traces.headers(r);
    const logged = traces.ids(r);
    traces.end(r, { ...ended, status: 201 });
    const [span] = exporter.getFinishedSpans();
    expect(traceparentOf(span!)).toBe(sent['traceparent']);
    expect(sent['tracestate']).toBe('vendor=a');
    expect(span!.spanContext()).toMatchObject({ traceId: logged.traceId, spanId: logged.spanId });
    expect(span!.parentSpanContext).toMatchObject({ traceId: CALLER, spanId: CALLER_SPAN, isRemote: true });
    expect(span!.name).toBe('GET /x');
    expect(span!.kind).toBe(SpanKind.SERVER);
    expect(span!.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/x',
      'http.response.status_code': 201,
    });
  });

  it('keeps a dropped request that failed, with the ids it propagated, so downstream spans find their parent', () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const r = request({ traceparent: `00-${CALLER}-${CALLER_SPAN}-00` });
    const sent = traces.headers(r)['traceparent']!;
    expect(sent).toMatch(new RegExp(`^00-${CALLER}-[0-9a-f]{16}-00$`));
    traces.end(r, { ...ended, status: 503, keep: 'error' });
    const [span] = exporter.getFinishedSpans();
    expect(span!.spanContext().spanId).toBe(sent.split('-')[2]);
    expect(span!.spanContext().traceId).toBe(CALLER);
    expect(span!.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(span!.attributes).toMatchObject({ 'nova.keep': true, 'nova.kept_because': 'error' });
    expect(span!.status.code).toBe(2);
  });

  it('keeps a dropped new trace that was slow, as a root with its id and its real duration', () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const r = request();
    const { traceId, spanId } = traces.ids(r);
    traces.end(r, { ...ended, elapsedMs: 60.25, keep: 'slow' });
    const [span] = exporter.getFinishedSpans();
    expect(span!.spanContext()).toMatchObject({ traceId, spanId });
    expect(span!.parentSpanContext).toBeUndefined();
    const ms = span!.duration[0] * 1000 + span!.duration[1] / 1e6;
    expect(ms).toBeCloseTo(60.25, 2);
    const endMs = span!.endTime[0] * 1000 + span!.endTime[1] / 1e6;
    expect(Math.abs(endMs - Date.now())).toBeLessThan(1_000);
  });

  it('records nothing for a dropped request that went well, and does not ask for ids it does not need', () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0' });
    traces.end(request(), ended);
    traces.end(request({ traceparent: `00-${CALLER}-${CALLER_SPAN}-00` }), ended);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('decides once: the ids stay, and headers are a new object each time', () => {
    const { traces } = setup({ OTEL_TRACES_SAMPLER_ARG: '0.5' });
    const r = request();
    const first = traces.ids(r);
    expect(first.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(traces.ids(r)).toEqual(first);
    const sampled = traces.sampled(r);
    expect(traces.headers(r)).toEqual({ traceparent: `00-${first.traceId}-${first.spanId}-0${sampled ? 1 : 0}` });
    traces.headers(r)['x'] = 'y';
    expect(traces.headers(r)).not.toHaveProperty('x');
    // Another request is another trace.
    expect(traces.ids(request()).traceId).not.toBe(first.traceId);
  });

  it("records the span the SDK's tracer would record for the request: the same fields, the same duration", () => {
    const { traces, exporter } = setup({ OTEL_TRACES_SAMPLER_ARG: '0.5' });
    fc.assert(
      fc.property(
        fc.option(fc.tuple(hex(32), hex(16), fc.constantFrom('00', '01')), { nil: undefined }),
        fc.option(fc.constantFrom('vendor=a', 'a=1,b=2'), { nil: undefined }),
        fc.constantFrom(200, 404, 503),
        fc.double({ min: 0, max: 5_000, noNaN: true }),
        fc.constantFrom(undefined, 'error', 'slow'),
        (caller, state, status, elapsedMs, keep) => {
          exporter.reset();
          const headers: TracedRequest['headers'] = {};
          if (caller) headers['traceparent'] = `00-${caller.join('-')}`;
          if (caller && state) headers['tracestate'] = state;
          const r = request(headers);
          const ids = traces.ids(r);
          const end = { method: 'POST', route: '/m/:id', path: '/m/7', status, elapsedMs, keep } as const;
          const now = performance.now();
          traces.end(r, end);
          const [ours] = exporter.getFinishedSpans();
          if (!traces.sampled(r) && keep === undefined) {
            expect(ours).toBeUndefined();
            return;
          }
          // The SDK's way, as RequestTraces once did it: a span started and ended through a tracer whose sampler
          // records it (the request was decided already) and whose id generator hands out the request's ids.
          const named: IdGenerator = { generateTraceId: () => ids.traceId, generateSpanId: () => ids.spanId };
          const sdk = new BasicTracerProvider({
            sampler: new AlwaysOnSampler(),
            resource: RESOURCE,
            idGenerator: named,
          });
          const parent = new W3CTraceContextPropagator().extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
          const span = sdk
            .getTracer('t')
            .startSpan(
              `${end.method} ${end.route}`,
              { kind: SpanKind.SERVER, startTime: now - elapsedMs, attributes: ours!.attributes },
              parent,
            );
          if (status >= 500) span.setStatus({ code: 2 });
          span.end(now);
          const theirs = span as unknown as ReadableSpan;
          for (const field of ['name', 'kind', 'parentSpanContext', 'status', 'links', 'events', 'ended'] as const)
            expect(ours![field]).toEqual(theirs[field]);
          expect(ours!.spanContext()).toEqual(theirs.spanContext());
          expect(ours!.resource).toBe(theirs.resource);
          expect(ours!.instrumentationScope).toEqual(theirs.instrumentationScope);
          expect([ours!.droppedAttributesCount, ours!.droppedEventsCount, ours!.droppedLinksCount]).toEqual([0, 0, 0]);
          const ms = (t: readonly [number, number]) => t[0] * 1000 + t[1] / 1e6;
          expect(ms(ours!.duration)).toBeCloseTo(ms(theirs.duration), 2);
          expect(Math.abs(ms(ours!.endTime) - ms(theirs.endTime))).toBeLessThan(5);
          // What the request said about itself, whatever the SDK did with it.
          expect(ours!.attributes).toMatchObject({
            'http.request.method': 'POST',
            'http.response.status_code': status,
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
