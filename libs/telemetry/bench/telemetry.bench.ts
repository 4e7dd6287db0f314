/**
 * `npx nx bench telemetry`: what recording and encoding a request's span costs, ours against the SDK's way, in
 * one run pinned to one core. Per span, in ns:
 *   - record: a sampled request's trace decided (a caller's `traceparent`) and its span recorded, by
 *     `RequestTraces.end` (the finished span handed to a processor) against the SDK's way after the same decision
 *     (a tracer's `startSpan` with the request's ids and times, then `end`);
 *   - encode: a batch of 512 such spans to OTLP protobuf with `encodeSpan`/`encodeRequest` against the SDK's
 *     `ProtobufTraceSerializer`.
 * The cases alternate round-robin over interleaved rounds (mitata measures each for a slice of CPU per round),
 * ratios are taken per round; the rounds run in 5 replications, each a fresh process. `-- --check` exits 1 when
 * a goal is missed with confidence; `-- --record` appends to docs/benchmarks.md.
 */
import { ROOT_CONTEXT, SpanKind, trace, type SpanContext } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import {
  BenchReport,
  benchFlagsOrExit,
  canCollectGarbage,
  pinToOneCore,
  replicatedRounds,
  replicationSizes,
} from '@nova/bench-kit';
import { measure } from 'mitata';
import { fileURLToPath } from 'node:url';
import { encodeRequest, encodeSpan } from '../src/otlp-spans.ts';
import { ProtoWriter } from '../src/proto-writer.ts';
import { RequestTraces, type TracedRequest } from '../src/request-traces.ts';
import { samplerFromEnv } from '../src/sampling.ts';

const CPU_MS = Number(process.env['BENCH_CPU_MS'] ?? 150);
const BATCH = 512;
const resource = resourceFromAttributes({ 'service.name': 'user-service' });
const scope = { name: 'user-service' };

/** Keeps the last span it was handed, so neither way's span is dead code. */
class LastSpan implements SpanProcessor {
  last: ReadableSpan | undefined;
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.last = span;
  }
  forceFlush = async (): Promise<void> => {};
  shutdown = async (): Promise<void> => {};
}

// Ours: every request sampled (the "full" configuration), a caller's sampled traceparent.
const ourSink = new LastSpan();
const traces = new RequestTraces(
  { resource, scope, processors: [ourSink] },
  samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }),
);
const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ended = { method: 'GET', route: '/users/:id', path: '/users/42', status: 200, elapsedMs: 3.2 };
function ours(): void {
  const request: TracedRequest = { headers: { traceparent: CALLER } };
  traces.ids(request);
  traces.end(request, ended);
}

// The SDK's way, as RequestTraces did it before 2026-12-05: the same decision, then the caller's context, the
// request's ids handed to the id generator, a span started with the request's start time and attributes, ended.
const decisions = new RequestTraces(
  { resource, scope, processors: [] },
  samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }),
);
let nextIds = { traceId: '', spanId: '' };
const named: IdGenerator = { generateTraceId: () => nextIds.traceId, generateSpanId: () => nextIds.spanId };
const sdkSink = new LastSpan();
const tracer = new BasicTracerProvider({
  sampler: new AlwaysOnSampler(),
  resource,
  idGenerator: named,
  spanProcessors: [sdkSink],
}).getTracer(scope.name);
const caller: SpanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
  isRemote: true,
};
function sdk(): void {
  const request: TracedRequest = { headers: { traceparent: CALLER } };
  nextIds = decisions.ids(request);
  const now = performance.now();
  tracer
    .startSpan(
      `${ended.method} ${ended.route}`,
      {
        kind: SpanKind.SERVER,
        startTime: now - ended.elapsedMs,
        attributes: { 'http.request.method': 'GET', 'url.path': '/users/42', 'http.response.status_code': 200 },
      },
      trace.setSpanContext(ROOT_CONTEXT, caller),
    )
    .end(now);
}

// A batch of the spans ours records, for both encoders.
const batch: ReadableSpan[] = [];
for (let i = 0; i < BATCH; i++) {
  ours();
  batch.push(ourSink.last!);
}
let bytes = 0;
function encodeOurs(): void {
  const spans = new ProtoWriter(8 * 1024);
  for (const span of batch) encodeSpan(spans, span);
  bytes = encodeRequest([{ resource, scopes: [{ scope, spans }] }]).length;
}
function encodeSdk(): void {
  bytes = ProtobufTraceSerializer.serializeRequest(batch)!.length;
}

const cases: Record<string, [() => void, number]> = {
  recordOurs: [ours, 1],
  recordSdk: [sdk, 1],
  encodeOurs: [encodeOurs, BATCH],
  encodeSdk: [encodeSdk, BATCH],
};
const labels: Record<string, string> = {
  recordOurs: "a request's span recorded: RequestTraces.end (sampled, caller's traceparent)",
  recordSdk: "a request's span recorded the SDK's way (tracer.startSpan with its ids and times, end)",
  encodeOurs: `OTLP protobuf per span, a batch of ${BATCH}: encodeSpan + encodeRequest`,
  encodeSdk: `OTLP protobuf per span, a batch of ${BATCH}: the SDK's ProtobufTraceSerializer`,
};

const flags = benchFlagsOrExit();
const ROUNDS = flags.rounds ?? Number(process.env['BENCH_ROUNDS'] ?? 15);
const REPLICATIONS = replicationSizes(ROUNDS);
const report = new BenchReport('telemetry', flags, { batches: REPLICATIONS.length });
report.note(pinToOneCore());
report.note(
  `${REPLICATIONS.length} replications of ${REPLICATIONS.join('/')} interleaved rounds, each in a fresh process after 1 warm-up round; ${CPU_MS} ms of CPU per case per round (mitata); figure per round: p50 ns per span`,
);
report.note(canCollectGarbage() ? 'full GC before each case' : 'no GC between cases (run with --expose-gc)');
report.note("the next-run interval's batches are the replications (a process carries its own level)");
const samples = await replicatedRounds(
  Object.fromEntries(
    Object.entries(cases).map(([name, [fn, perCall]]) => [
      name,
      async () => (await measure(fn, { batch_threshold: Infinity, min_cpu_time: CPU_MS * 1e6 })).p50 / perCall,
    ]),
  ),
  { sizes: REPLICATIONS, script: fileURLToPath(import.meta.url) },
);
for (const name of Object.keys(cases)) report.figure(name, labels[name]!, 'ns/span', samples[name]!);
report.ratio('record_ours_over_sdk', 'recording a span: ours / the SDK way', 'recordOurs', 'recordSdk');
report.ratio('encode_ours_over_sdk', 'encoding a span: ours / the SDK serializer', 'encodeOurs', 'encodeSdk');
report.note(`one batch's request: ${bytes.toLocaleString('en-US')} bytes`);
report.goal({ figure: 'record_ours_over_sdk', op: '<=', target: 0.5, source: 'regression guard' });
report.goal({ figure: 'encode_ours_over_sdk', op: '<=', target: 0.7, source: 'regression guard' });
process.exitCode = report.finish().exitCode;
