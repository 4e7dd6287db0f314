import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestMetrics } from './request-metrics.ts';

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10];
const labelNames = ['service', 'route', 'method', 'status'] as const;

/** prom-client's own Counter and Histogram fed the same requests: the reference. */
function reference() {
  const registry = new Registry();
  const counter = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests served, by route template, method and status code.',
    labelNames,
    registers: [registry],
  });
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to serve an HTTP request, in seconds.',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    observe(route: string, method: string, status: number, seconds: number) {
      const labels = { service: 'svc', route, method, status: String(status) };
      counter.inc(labels);
      histogram.observe(labels, seconds);
    },
  };
}

const request = fc.record({
  route: fc.constantFrom('/users/:id', '/messages', 'unmatched', '/a"b\\c'),
  method: fc.constantFrom('GET', 'POST', 'OTHER'),
  status: fc.constantFrom(200, 201, 404, 500, 503),
  // Bounds themselves included: a latency equal to a bound counts in that bound's bucket.
  seconds: fc.oneof(fc.constantFrom(...BUCKETS, 0, 20), fc.double({ min: 0, max: 30, noNaN: true })),
});

describe('RequestMetrics', () => {
  it('prints exactly what prom-client’s Counter and Histogram print for the same requests', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(request, { maxLength: 60 }), async (requests) => {
        const ours = new Registry();
        const metrics = new RequestMetrics('svc', BUCKETS);
        metrics.register(ours);
        const theirs = reference();
        for (const r of requests) {
          metrics.observe(r.route, r.method, r.status, r.seconds);
          theirs.observe(r.route, r.method, r.status, r.seconds);
        }
        expect(await ours.metrics()).toBe(await theirs.registry.metrics());
        // As JSON too (what `getMetricsAsJSON` consumers read), fields left undefined aside.
        const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
        expect(await json(ours)).toEqual(await json(theirs.registry));
      }),
      { numRuns: 200 },
    );
  });

  it('starts over when the registry is reset', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics('svc', BUCKETS);
    metrics.register(registry);
    metrics.observe('/users/:id', 'GET', 200, 0.002);
    registry.resetMetrics();
    metrics.observe('/users/:id', 'GET', 404, 0.002);
    const text = await registry.metrics();
    expect(text).toContain('http_requests_total{service="svc",route="/users/:id",method="GET",status="404"} 1');
    expect(text).not.toContain('status="200"');
  });
});
