import {
  isSpanContextValid,
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanStatus,
} from '@opentelemetry/api';
import { hrTime, hrTimeDuration, parseTraceParent, TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-node';
import { performance } from 'node:perf_hooks';
import { newSpanId, newTraceId } from './ids.ts';
import { KEEP_ATTRIBUTE, type SamplerChoice } from './sampling.ts';

/** The name the sampler is asked about for a request's span (the recorded span is named `<method> <route>`). */
export const REQUEST_SPAN_NAME = 'http request';

/** An incoming request, as far as its trace is concerned: Node's `IncomingMessage` is one. */
export interface TracedRequest {
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What a request's trace was decided to be. */
interface Decision {
  /** A new trace's id is made on first use (with a parent-based sampler its decision does not need it). */
  traceId: string | undefined;
  /** Made on first use: most requests neither log nor call out, and most are not recorded. */
  spanId: string | undefined;
  readonly sampled: boolean;
  /** The caller's span, when the request continues the caller's trace (a remote span context, as extracted). */
  readonly caller: SpanContext | undefined;
}

/** How a request ended, for its span. */
export interface RequestEnd {
  readonly method: string;
  /** The route template, e.g. `/users/:id`: the span is named `<method> <route>`. */
  readonly route: string;
  readonly path: string;
  readonly status: number;
  /** How long the request took, in ms. */
  readonly elapsedMs: number;
  /** Why a request its sampler dropped keeps a span anyway (it failed, or was slow); undefined: it does not. */
  readonly keep?: 'error' | 'slow' | undefined;
}

/** Where request spans are recorded: the tracer provider's resource, a scope, and its span processors. */
export interface SpanRecorder {
  readonly resource: Resource;
  /** The scope the spans are recorded under (the service's name). */
  readonly scope: InstrumentationScope;
  /** Each is handed every recorded span, finished (`onEnd`; a request span is made finished, so no `onStart`). */
  readonly processors: readonly SpanProcessor[];
}

/** A request's span as span processors and exporters read it, made when the request has ended. */
class RequestSpan implements ReadableSpan {
  readonly kind = SpanKind.SERVER;
  readonly links: Link[] = [];
  readonly events: TimedEvent[] = [];
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly duration: HrTime;

  constructor(
    readonly name: string,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly status: SpanStatus,
    readonly attributes: Attributes,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {
    this.duration = hrTimeDuration(startTime, endTime);
  }

  spanContext(): SpanContext {
    return this.context;
  }
}

/**
 * The traces of incoming requests, decided on first use and recorded when the request ends.
 *
 * Why not a span started when the request arrives (the SDK's way): that costs every request a context, a span
 * object, two ids and a sampler call in a hook, and under load on a crowded machine that work cost several
 * times its tight-loop price (docs/benchmarks.md, issue 22). Most requests need none of it: a dropped request
 * that neither logs nor calls another service needs only its sampling decision, at its end. So a request's
 * trace (its sampling decision and, when asked, its ids) is decided the first time a log line, an outgoing call
 * or the request's end needs it, as the SDK's sampler would decide it. A recorded span (sampled,
 * or kept because it failed or was slow) is made at the end with the request's real start time and with the
 * ids its calls and log lines already carry, so a kept span is the parent its downstream spans name.
 *
 * A recorded span is handed to the provider's span processors as it is, not started and ended through the SDK's
 * tracer: the request's trace is already decided, so the tracer's sampler call, context, span object and
 * attribute checks would only repeat work, and with every request traced they cost more than the export
 * (docs/benchmarks.md, issue 22). A test holds the span equal to the one the SDK's tracer records for it.
 */
export class RequestTraces {
  private readonly decided = new WeakMap<TracedRequest, Decision>();

  /**
   * @param recorder where recorded spans go (the provider's processors).
   * @param choice how the provider samples (from {@link samplerFromEnv}).
   */
  constructor(
    private readonly recorder: SpanRecorder,
    private readonly choice: Pick<SamplerChoice, 'root' | 'parentBased' | 'ratio'>,
  ) {}

  /** The request's trace id and span id (decided now if not yet). */
  ids(request: TracedRequest): { traceId: string; spanId: string } {
    const d = this.decisionOf(request);
    return { traceId: (d.traceId ??= newTraceId()), spanId: (d.spanId ??= newSpanId()) };
  }

  /** True when the request's trace is sampled (decided now if not yet). */
  sampled(request: TracedRequest): boolean {
    return this.decisionOf(request).sampled;
  }

  /** The W3C headers (`traceparent`, and the caller's `tracestate`) continuing the request's trace in a call it makes. A new object each time. */
  headers(request: TracedRequest): Record<string, string> {
    const d = this.decisionOf(request);
    d.traceId ??= newTraceId();
    d.spanId ??= newSpanId();
    // As the W3C propagator writes them.
    const headers: Record<string, string> = { traceparent: `00-${d.traceId}-${d.spanId}-0${d.sampled ? 1 : 0}` };
    const state = d.caller?.traceState;
    if (state) headers['tracestate'] = state.serialize();
    return headers;
  }

  /** Records the request's span when it was sampled or `end.keep` says why to keep it; otherwise records nothing. */
  end(request: TracedRequest, end: RequestEnd): void {
    const d = this.decided.get(request) ?? this.decide(request.headers);
    if (!d.sampled && end.keep === undefined) return;
    const attributes: Attributes = {
      'http.request.method': end.method,
      'url.path': end.path,
      'http.response.status_code': end.status,
    };
    if (!d.sampled) {
      attributes[KEEP_ATTRIBUTE] = true;
      attributes['nova.kept_because'] = end.keep;
    }
    // Timed as the SDK times a span: the performance clock, anchored to the wall clock when the span is made.
    const now = performance.now();
    const offset = Date.now() - (performance.timeOrigin + now);
    const context: SpanContext = {
      traceId: (d.traceId ??= newTraceId()),
      spanId: (d.spanId ??= newSpanId()),
      // Sampled, or kept: recorded and exported either way, as the provider's sampler answers for both.
      traceFlags: TraceFlags.SAMPLED,
      traceState: d.caller?.traceState,
    };
    const { resource, scope, processors } = this.recorder;
    const span = new RequestSpan(
      `${end.method} ${end.route}`,
      context,
      d.caller,
      hrTime(now - end.elapsedMs + offset),
      hrTime(now + offset),
      { code: end.status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
      attributes,
      resource,
      scope,
    );
    for (const processor of processors) processor.onEnd(span);
  }

  private decisionOf(request: TracedRequest): Decision {
    let d = this.decided.get(request);
    if (d === undefined) this.decided.set(request, (d = this.decide(request.headers)));
    return d;
  }

  /** As the SDK decides: the W3C propagator's reading of the headers, then the sampler. */
  private decide(headers: TracedRequest['headers']): Decision {
    const header = headers['traceparent'];
    const first = Array.isArray(header) ? header[0] : header;
    const caller = typeof first === 'string' ? parseTraceParent(first) : null;
    if (caller && isSpanContextValid(caller)) {
      caller.isRemote = true;
      const state = headers['tracestate'];
      if (state) caller.traceState = new TraceState(Array.isArray(state) ? state.join(',') : state);
      const sampled = this.choice.parentBased
        ? (caller.traceFlags & TraceFlags.SAMPLED) !== 0
        : this.samples(trace.setSpanContext(ROOT_CONTEXT, caller), caller.traceId);
      return { traceId: caller.traceId, spanId: undefined, sampled, caller };
    }
    // No caller (or one whose header is malformed): a new trace.
    if (this.choice.parentBased) {
      // Its decision travels in the flags, and every later service follows them, so it needs no id: a draw at
      // the ratio is what the ratio sampler's test of a random id amounts to. The id is made if it is needed.
      return { traceId: undefined, spanId: undefined, sampled: Math.random() < this.choice.ratio, caller: undefined };
    }
    // Without a parent-based sampler every service decides on the trace id, so the decision must be the id's.
    const traceId = newTraceId();
    return { traceId, spanId: undefined, sampled: this.samples(ROOT_CONTEXT, traceId), caller: undefined };
  }

  /** Record-only answers (none of our samplers gives one) count as dropped: such a span is never exported. */
  private samples(context: Context, traceId: string): boolean {
    const { decision } = this.choice.root.shouldSample(context, traceId, REQUEST_SPAN_NAME, SpanKind.SERVER, {}, []);
    return decision === SamplingDecision.RECORD_AND_SAMPLED;
  }
}
