import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createServiceApp } from './service-app.ts';

/** A loopback collector stand-in counting the spans posted to it (OTLP/HTTP JSON). */
const names: string[] = [];
const collector = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const request = JSON.parse(body) as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
    };
    for (const r of request.resourceSpans)
      for (const s of r.scopeSpans) for (const span of s.spans) names.push(span.name);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((ok) => collector.listen(0, '127.0.0.1', ok));
afterAll(() => new Promise<void>((ok) => collector.close(() => ok())));

// Tracing is process-wide and set up by the first app: this file runs in its own worker, so these hold.
process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
process.env['OTEL_TRACES_SAMPLER'] = 'parentbased_always_on';

describe('closing a service', () => {
  it('exports the spans still batched (the batch processor would hold them for 5 s)', async () => {
    const app = createServiceApp({ name: 'flush', telemetry: 'on' });
    app.get('/things/:id', async () => ({ ok: true }));
    expect(app.service.tracing?.exporting).toBe(true);
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: `/things/${i}` })).statusCode).toBe(200);
    expect(names).toEqual([]);
    const started = performance.now();
    await app.close();
    expect(names).toEqual(['GET /things/:id', 'GET /things/:id', 'GET /things/:id']);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
