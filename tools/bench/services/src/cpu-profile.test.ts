import { describe, expect, it } from 'vitest';
import { packageOf, timeInside, topFrames, type Classify, type CpuProfile } from './cpu-profile.ts';

describe('cpu profile summary', () => {
  it('names the package of a script', () => {
    expect(packageOf('file:///w/node_modules/@opentelemetry/api/build/src/api/context.js')).toBe('@opentelemetry/api');
    expect(packageOf('file:///w/node_modules/fastify/lib/route.js')).toBe('fastify');
    expect(packageOf('file:///w/node_modules/a/node_modules/pino/lib/x.js')).toBe('pino');
    expect(packageOf('file:///w/libs/telemetry/src/metrics.ts')).toBe('libs/telemetry');
    expect(packageOf('node:internal/async_hooks')).toBe('node:internal/async_hooks');
    expect(packageOf('')).toBe('(v8)');
  });

  it('sums self time per function and per package, idle apart, most first', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
        {
          id: 2,
          callFrame: {
            functionName: 'observe',
            url: 'file:///w/node_modules/prom-client/lib/histogram.js',
            lineNumber: 9,
          },
        },
        {
          id: 3,
          callFrame: { functionName: 'with', url: 'file:///w/node_modules/@opentelemetry/api/ctx.js', lineNumber: 0 },
        },
        {
          id: 4,
          callFrame: {
            functionName: 'observe',
            url: 'file:///w/node_modules/prom-client/lib/histogram.js',
            lineNumber: 9,
          },
        },
      ],
      samples: [1, 2, 3, 4, 2, 1],
      timeDeltas: [5000, 1000, 500, 1000, 1000, 5000],
      startTime: 0,
      endTime: 13_500,
    };
    const t = topFrames(profile, 5);
    expect(t.totalMs).toBe(13.5);
    expect(t.idleMs).toBe(10);
    expect(t.frames).toEqual([
      { name: 'observe', where: 'prom-client/histogram.js:10', selfMs: 3 },
      { name: 'with', where: '@opentelemetry/api/ctx.js:1', selfMs: 0.5 },
    ]);
    expect(t.packages).toEqual([
      { name: 'prom-client', selfMs: 3 },
      { name: '@opentelemetry/api', selfMs: 0.5 },
    ]);
    // Only the samples taken between 9.5 ms and 1 ms before the end: ids 3, 4, 2 (t = 6.5, 7.5, 8.5 ms).
    const windowed = topFrames(profile, 5, { fromEndUs: 7_000, toEndUs: 4_500 });
    expect(windowed.frames.map((f) => [f.name, f.selfMs])).toEqual([
      ['observe', 2],
      ['with', 0.5],
    ]);
  });

  it('charges a sample to the code that called it, unless code that runs without ours came first', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    // root → handler → onResponse (ours) → hexSlice (native); onResponse → child (pino) → hexSlice; handler → hexSlice.
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2] },
        { id: 2, callFrame: frame('handler', 'file:///w/services/user/src/app.ts'), children: [3, 6] },
        {
          id: 3,
          callFrame: frame('onResponse', 'file:///w/libs/service-kit/src/request-tracing.ts'),
          children: [4, 5],
        },
        { id: 4, callFrame: frame('hexSlice', '') },
        { id: 5, callFrame: frame('child', 'file:///w/node_modules/pino/pino.js'), children: [7] },
        { id: 6, callFrame: frame('hexSlice', '') },
        { id: 7, callFrame: frame('hexSlice', '') },
      ],
      samples: [4, 4, 5, 7, 6, 3, 4],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000],
      startTime: 0,
      endTime: 7_000,
    };
    const telemetry: Classify = (url) =>
      url.endsWith('request-tracing.ts') ? 'ours' : url.includes('/pino/') ? 'theirs' : undefined;
    // Ours: the two samples under onResponse's hexSlice and the one in onResponse itself; not pino's, not the handler's.
    expect(timeInside(profile, telemetry)).toBe(4);
    // Only the samples from 4 ms before the end: at 3–7 ms, ids 5, 7, 6, 3, 4, of which 3 and 4 are ours.
    expect(timeInside(profile, telemetry, { fromEndUs: 4_000, toEndUs: 0 })).toBe(2);
  });
});
