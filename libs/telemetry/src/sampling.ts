import { type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-node';

/**
 * A span started with this attribute set to `true` is always recorded and sampled, whatever the ratio: the
 * services set it on the span of a request that failed (5xx) or was slow, after the fact, so those traces
 * are kept when the request itself was not sampled.
 */
export const KEEP_ATTRIBUTE = 'nova.keep';

/**
 * Default share of new traces sampled when `OTEL_TRACES_SAMPLER_ARG` is not set: 1 %. An exported span costs its
 * service tens of µs of CPU (recording, batching, OTLP encoding, posting: ~40–50 µs measured in one process on
 * our VM, 2026-12-04). At 10 %, with spans exported, telemetry cost a `GET /users/:id` 18 % of its capacity in
 * the services benchmark (docs/benchmarks.md), past issue 22's 10 % budget.
 * Failed and slow requests keep their spans whatever the ratio, so what a chaos run is about stays traced; a
 * service that needs more healthy traces sets the variable.
 */
export const DEFAULT_SAMPLE_RATIO = 0.01;

/** Keeps spans marked {@link KEEP_ATTRIBUTE}; asks the delegate about every other span. */
export class KeepSampler implements Sampler {
  private readonly delegate: Sampler;

  constructor(delegate: Sampler) {
    this.delegate = delegate;
  }

  shouldSample(
    context: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    if (attributes[KEEP_ATTRIBUTE] === true) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    return this.delegate.shouldSample(context, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `KeepSampler{${this.delegate.toString()}}`;
  }
}

/** A sampler chosen by {@link samplerFromEnv}, with what {@link RequestTraces} needs to decide as it would. */
export interface SamplerChoice {
  /** The provider's sampler. */
  sampler: Sampler;
  /** E.g. `parentbased_traceidratio 0.01`. */
  description: string;
  /** The sampler of new traces (the ratio's, or always on/off). */
  root: Sampler;
  /** True when a caller's decision in `traceparent` is honoured (`parentbased_*`). */
  parentBased: boolean;
  /** The share of new traces `root` samples, 0–1 (always_on: 1, always_off: 0). */
  ratio: number;
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * The sampler named by OpenTelemetry's standard variables, `OTEL_TRACES_SAMPLER` (default
 * `parentbased_traceidratio`: a caller's sampling decision in `traceparent` is honoured, new traces are
 * sampled at the ratio) and `OTEL_TRACES_SAMPLER_ARG` (the ratio, 0–1, default {@link DEFAULT_SAMPLE_RATIO}),
 * wrapped in a {@link KeepSampler}. A value it does not know is an error naming the variable and the choices.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): SamplerChoice {
  const name = (env['OTEL_TRACES_SAMPLER'] ?? 'parentbased_traceidratio').trim();
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw new Error(`OTEL_TRACES_SAMPLER=${name} is not supported: use one of ${SAMPLERS.join(', ')}`);
  }
  const arg = env['OTEL_TRACES_SAMPLER_ARG'];
  const ratio = arg === undefined || arg.trim() === '' ? DEFAULT_SAMPLE_RATIO : Number(arg);
  if (name.endsWith('traceidratio') && !(ratio >= 0 && ratio <= 1)) {
    throw new Error(`OTEL_TRACES_SAMPLER_ARG=${arg} is not a ratio: use a number from 0 to 1 (e.g. 0.1 for 10 %)`);
  }
  const root: Sampler = name.endsWith('always_on')
    ? new AlwaysOnSampler()
    : name.endsWith('always_off')
      ? new AlwaysOffSampler()
      : new TraceIdRatioBasedSampler(ratio);
  const parentBased = name.startsWith('parentbased_');
  const sampler = parentBased ? new ParentBasedSampler({ root }) : root;
  const description = name.endsWith('traceidratio') ? `${name} ${ratio}` : name;
  const share = name.endsWith('always_on') ? 1 : name.endsWith('always_off') ? 0 : ratio;
  return { sampler: new KeepSampler(sampler), description, root, parentBased, ratio: share };
}
