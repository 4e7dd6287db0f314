import { startOtlpCollector } from '@nova/telemetry/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createServiceApp } from './service-app.ts';

// A loopback collector stand-in, keeping the spans posted to it (OTLP/HTTP JSON here).
const collector = await startOtlpCollector();
const names = () => collector.exports.flatMap((e) => e.spanNames);
afterAll(() => collector.close());

// Tracing is process-wide and set up by the first app: this file runs in its own worker, so these hold.
process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.endpoint();
process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
process.env['OTEL_TRACES_SAMPLER'] = 'parentbased_always_on';

describe('closing a service', () => {
  it('exports the spans still batched (the batch processor would hold them for 5 s)', async () => {
    const app = createServiceApp({ name: 'flush', telemetry: 'on' });
    app.get('/things/:id', async () => ({ ok: true }));
    expect(app.service.tracing?.exporting).toBe(true);
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: `/things/${i}` })).statusCode).toBe(200);
    expect(names()).toEqual([]);
    const started = performance.now();
    await app.close();
    expect(names()).toEqual(['GET /things/:id', 'GET /things/:id', 'GET /things/:id']);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
