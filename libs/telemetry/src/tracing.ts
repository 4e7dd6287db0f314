import { context, propagation, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { batchLimitsFromEnv, EncodingSpanProcessor } from './encoding-span-processor.ts';
import { ExportThread } from './export-thread.ts';
import { RequestTraces } from './request-traces.ts';
import { samplerFromEnv, type SamplerChoice } from './sampling.ts';
import { SyncContextManager } from './sync-context-manager.ts';

type Headers = Record<string, string | string[] | undefined>;

/** Tracing of one process. */
export interface Tracing {
  readonly tracer: Tracer;
  /** True when spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` is set). */
  readonly exporting: boolean;
  /** The sampler in force, e.g. `parentbased_traceidratio 0.01`. */
  readonly sampling: string;
  /** The W3C trace-context headers (`traceparent`, `tracestate`) of the active span, for outgoing calls. */
  headers(): Record<string, string>;
  /** The context carried by incoming headers. */
  extract(headers: Headers): Context;
  /** The traces of incoming requests: decided on first use, recorded when each request ends. */
  readonly requests: RequestTraces;
  /** Exports the spans still batched, and goes on exporting (the provider is the process's: other apps may share it). */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/** The process-wide provider and how it samples (for {@link RequestTraces}); set by the first {@link initTracing}. */
let installed:
  { provider: NodeTracerProvider; choice: SamplerChoice; resource: Resource; processors: SpanProcessor[] } | undefined;

/**
 * Registers the process-wide tracer provider once: a synchronous context ({@link SyncContextManager}), W3C trace-context
 * propagation (the SDK's default), the sampler of {@link samplerFromEnv} (parent-based, 1 % of new traces
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
  if (!installed) {
    // Checked with or without an endpoint, so a bad value stops start-up rather than the first export.
    otlpProtocol(env);
    const spanProcessors: SpanProcessor[] = [...(extra.spanProcessors ?? [])];
    if (endpoint)
      spanProcessors.push(
        // Protobuf, the default: spans encoded as they end (EncodingSpanProcessor says what that saves) and sent
        // from a thread of their own (ExportThread says why).
        otlpProtocol(env) === 'http/protobuf'
          ? new EncodingSpanProcessor(new ExportThread({ env }), batchLimitsFromEnv(env))
          : new BatchSpanProcessor(otlpExporter(env)),
      );
    const choice = samplerFromEnv(env);
    const resource = resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? service });
    const provider = new NodeTracerProvider({
      sampler: choice.sampler,
      resource,
      spanProcessors,
    });
    // W3C trace context only: the SDK's default adds the baggage propagator, which we never use and which
    // every request's extract and every outgoing call's inject would otherwise run. A synchronous context
    // manager, not the SDK's AsyncLocalStorage: its first use (every batch export makes one) turns on async
    // hooks for the whole process (SyncContextManager says what that cost).
    provider.register({ propagator: new W3CTraceContextPropagator(), contextManager: new SyncContextManager() });
    installed = { provider, choice, resource, processors: spanProcessors };
  }
  const { provider, choice, resource, processors } = installed;
  // From our provider, not the global one (another SDK may have registered first).
  const tracer = provider.getTracer(service);
  return {
    tracer,
    exporting: Boolean(endpoint),
    sampling: choice.description,
    headers() {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      return carrier;
    },
    extract: (headers) => propagation.extract(context.active(), headers),
    // Recorded as the provider records its spans: its resource, this service's scope (the tracer's), its processors.
    requests: new RequestTraces({ resource, scope: { name: service }, processors }, choice),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** The OTLP protocols a trace exporter may speak, by `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` value. */
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;

/**
 * The OTLP protocol of `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` (or `OTEL_EXPORTER_OTLP_PROTOCOL`): `http/protobuf`,
 * the specification's default, or `http/json`. Protobuf sends a third of JSON's bytes; their CPU measured the same
 * (docs/benchmarks.md, issue 22). `grpc` is not supported. Any other value is an error naming the variable.
 */
export function otlpProtocol(env: NodeJS.ProcessEnv = process.env): (typeof PROTOCOLS)[number] {
  const variable = env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[variable] ?? 'http/protobuf').trim();
  if (!(PROTOCOLS as readonly string[]).includes(protocol))
    throw new Error(`${variable}=${protocol} is not supported: use one of ${PROTOCOLS.join(', ')}`);
  return protocol as (typeof PROTOCOLS)[number];
}

/** The OTLP/HTTP trace exporter of {@link otlpProtocol}; its endpoint is read by the SDK from `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`. */
export function otlpExporter(env: NodeJS.ProcessEnv = process.env): OTLPProtoTraceExporter | OTLPJsonTraceExporter {
  return otlpProtocol(env) === 'http/json' ? new OTLPJsonTraceExporter() : new OTLPProtoTraceExporter();
}

/** The trace and span ids of the active span, for log lines; empty when there is none. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span: Span | undefined = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
