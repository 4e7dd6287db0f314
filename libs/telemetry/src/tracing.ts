import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { parseTraceParent, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { SAMPLED_ROOT, samplerFromEnv } from './sampling.ts';
import { newTraceId, UnsampledSpan } from './unsampled-span.ts';

/** The name a request's span starts with; the services rename a recorded one `<method> <route>`. */
export const REQUEST_SPAN_NAME = 'http request';
const SERVER = { kind: SpanKind.SERVER } as const;
const NO_ATTRIBUTES = {};

type Headers = Record<string, string | string[] | undefined>;

/** Tracing of one process. */
export interface Tracing {
  readonly tracer: Tracer;
  /** True when spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` is set). */
  readonly exporting: boolean;
  /** The sampler in force, e.g. `parentbased_traceidratio 0.1`. */
  readonly sampling: string;
  /** The W3C trace-context headers (`traceparent`, `tracestate`) of the active span, for outgoing calls. */
  headers(): Record<string, string>;
  /** The W3C trace-context headers of `ctx` (e.g. a request's span, passed explicitly rather than through AsyncLocalStorage). */
  headersFor(ctx: Context): Record<string, string>;
  /** The context carried by incoming headers. */
  extract(headers: Headers): Context;
  /**
   * The span of an incoming request (a server span named {@link REQUEST_SPAN_NAME}) and the caller's context
   * it continues (`parent`; for an unsampled span, its `parentContext()`). With a parent-based sampler, a
   * request the sampler drops gets an {@link UnsampledSpan} decided from `traceparent` or by the root sampler,
   * without the SDK's per-request work; a sampled one, the SDK's recording span.
   */
  startRequestSpan(headers: Headers): { span: Span; parent: Context | undefined };
  /** The W3C headers continuing `span` (started in `parent`) in the calls it makes. */
  headersOf(span: Span, parent: Context | undefined): Record<string, string>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

let provider: NodeTracerProvider | undefined;
let sampling = '';
/** What {@link Tracing.startRequestSpan} decides itself; undefined when the sampler is not parent-based. */
let fastPath: { root: Sampler } | undefined;

/**
 * Registers the process-wide tracer provider once: AsyncLocalStorage context, W3C trace-context
 * propagation (the SDK's default), the sampler of {@link samplerFromEnv} (parent-based, 10 % of new traces
 * by default), and a batching OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Without an
 * endpoint, sampled spans are still created and propagated (ids appear in logs) but not exported.
 * `extra.spanProcessors` (tests, custom exporters) are added on the first call only.
 */
export function initTracing(
  service: string,
  env: NodeJS.ProcessEnv = process.env,
  extra: { spanProcessors?: SpanProcessor[] } = {},
): Tracing {
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (!provider) {
    const spanProcessors: SpanProcessor[] = [...(extra.spanProcessors ?? [])];
    if (endpoint) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
    const chosen = samplerFromEnv(env);
    sampling = chosen.description;
    // Span processors never see a dropped span (the SDK hands them recording spans only), so deciding the
    // dropped ones ourselves hides nothing from them.
    fastPath = chosen.parentBased ? { root: chosen.root } : undefined;
    provider = new NodeTracerProvider({
      sampler: chosen.sampler,
      resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? service }),
      spanProcessors,
    });
    // W3C trace context only: the SDK's default adds the baggage propagator, which we never use and which
    // every request's extract and every outgoing call's inject would otherwise run.
    provider.register({ propagator: new W3CTraceContextPropagator() });
  }
  const current = provider;
  const tracer = trace.getTracer(service);
  const extract = (headers: Headers): Context => propagation.extract(context.active(), headers);
  const fast = fastPath;
  return {
    tracer,
    exporting: Boolean(endpoint),
    sampling,
    headers() {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      return carrier;
    },
    headersFor(ctx) {
      const carrier: Record<string, string> = {};
      propagation.inject(ctx, carrier);
      return carrier;
    },
    extract,
    startRequestSpan(headers) {
      if (fast) {
        const header = headers['traceparent'];
        const caller = typeof header === 'string' ? parseTraceParent(header) : null;
        if (caller && isSpanContextValid(caller)) {
          // A caller's decision is honoured (parent-based): it dropped the trace, so do we.
          if ((caller.traceFlags & 1) === 0) {
            const state = headers['tracestate'];
            return {
              span: new UnsampledSpan(caller.traceId, caller.spanId, Array.isArray(state) ? state.join(',') : state),
              parent: undefined,
            };
          }
        } else if (header === undefined) {
          // A new trace: the root sampler decides on its id, as the SDK's would.
          const traceId = newTraceId();
          const { decision } = fast.root.shouldSample(
            ROOT_CONTEXT,
            traceId,
            REQUEST_SPAN_NAME,
            SpanKind.SERVER,
            NO_ATTRIBUTES,
            [],
          );
          if (decision === SamplingDecision.NOT_RECORD)
            return { span: new UnsampledSpan(traceId, undefined, undefined), parent: undefined };
          if (decision === SamplingDecision.RECORD_AND_SAMPLED) {
            const parent = ROOT_CONTEXT.setValue(SAMPLED_ROOT, true);
            return { span: tracer.startSpan(REQUEST_SPAN_NAME, SERVER, parent), parent };
          }
          // Record-only (no root sampler of ours answers it): the SDK's way below.
        }
      }
      // Sampled by the caller, a malformed or repeated traceparent, or another sampler: the SDK's way.
      const parent = extract(headers);
      return { span: tracer.startSpan(REQUEST_SPAN_NAME, SERVER, parent), parent };
    },
    headersOf(span, parent) {
      if (span instanceof UnsampledSpan) return span.headers();
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(parent ?? ROOT_CONTEXT, span), carrier);
      return carrier;
    },
    shutdown: () => current.shutdown(),
  };
}

/** The trace and span ids of the active span, for log lines; empty when there is none. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span: Span | undefined = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
