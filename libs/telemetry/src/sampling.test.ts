import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-node';
import { describe, expect, it } from 'vitest';
import { KEEP_ATTRIBUTE, samplerFromEnv } from './sampling.ts';
import { telemetryModeFromEnv } from './mode.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const parent = (flags: TraceFlags) =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: '00f067aa0ba902b7', traceFlags: flags, isRemote: true });
/** 1 000 pseudo-random trace ids (a fixed LCG, so the count below replays exactly). */
let state = 12345;
const word = (): string => (state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0).toString(16).padStart(8, '0');
const ids = Array.from({ length: 1000 }, () => word() + word() + word() + word());

describe('samplerFromEnv', () => {
  it('defaults to parent-based 1 % sampling of new traces', () => {
    const { sampler, description } = samplerFromEnv({});
    expect(description).toBe('parentbased_traceidratio 0.01');
    const sampled = ids.filter(
      (id) =>
        sampler.shouldSample(ROOT_CONTEXT, id, 'x', SpanKind.SERVER, {}, []).decision ===
        SamplingDecision.RECORD_AND_SAMPLED,
    );
    // 1 000 ids at 1 %: ~10 (binomial sd ~3); 10 % would give ~100.
    expect(sampled.length).toBeGreaterThan(2);
    expect(sampled.length).toBeLessThan(25);
  });

  it("honours the caller's decision in traceparent whatever the ratio", () => {
    const never = samplerFromEnv({ OTEL_TRACES_SAMPLER_ARG: '0' }).sampler;
    const always = samplerFromEnv({ OTEL_TRACES_SAMPLER_ARG: '1' }).sampler;
    expect(never.shouldSample(parent(TraceFlags.SAMPLED), TRACE, 'x', SpanKind.SERVER, {}, []).decision).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(always.shouldSample(parent(TraceFlags.NONE), TRACE, 'x', SpanKind.SERVER, {}, []).decision).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });

  it('always keeps a span marked to keep, even in an unsampled trace', () => {
    const { sampler } = samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' });
    expect(sampler.shouldSample(parent(TraceFlags.NONE), TRACE, 'x', SpanKind.SERVER, {}, []).decision).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(
      sampler.shouldSample(parent(TraceFlags.NONE), TRACE, 'x', SpanKind.SERVER, { [KEEP_ATTRIBUTE]: true }, [])
        .decision,
    ).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('traces every request with parentbased_always_on', () => {
    const { sampler } = samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' });
    expect(
      ids.every(
        (id) =>
          sampler.shouldSample(ROOT_CONTEXT, id, 'x', SpanKind.SERVER, {}, []).decision ===
          SamplingDecision.RECORD_AND_SAMPLED,
      ),
    ).toBe(true);
  });

  it('names the variable and the fix for a value it does not know', () => {
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toThrow(
      /OTEL_TRACES_SAMPLER=jaeger_remote is not supported: use one of always_on/,
    );
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(
      /OTEL_TRACES_SAMPLER_ARG=1.5 is not a ratio/,
    );
    expect(() => telemetryModeFromEnv({ TELEMETRY: 'yes' })).toThrow(
      /TELEMETRY=yes is not supported: use one of on, metrics, off/,
    );
    expect(telemetryModeFromEnv({})).toBe('on');
    expect(telemetryModeFromEnv({ TELEMETRY: 'metrics' })).toBe('metrics');
  });
});
