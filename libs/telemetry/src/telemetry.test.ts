import { context, trace } from '@opentelemetry/api';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { activeTraceIds, createLogger, createMetrics, initTracing } from './index.ts';

describe('createMetrics', () => {
  it('exports the RED metrics and the breaker gauge with the documented names and labels', async () => {
    const m = createMetrics('svc', { processMetrics: false });
    m.observeRequest('/users/:id', 'GET', 200, 0.012);
    m.observeRequest('/users/:id', 'GET', 200, 0.3);
    m.setBreakerState('user-service', 2);
    m.observeRequest('unmatched', 'BREW', 404, 0.001);
    const text = await m.registry.metrics();
    expect(text).toContain('http_requests_total{service="svc",route="/users/:id",method="GET",status="200"} 2');
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="0.025",service="svc",route="/users/:id",method="GET",status="200"} 1',
    );
    expect(text).toContain(
      'http_request_duration_seconds_count{service="svc",route="/users/:id",method="GET",status="200"} 2',
    );
    expect(text).toContain('circuit_breaker_state{service="svc",upstream="user-service"} 2');
    expect(text).toContain('http_requests_total{service="svc",route="unmatched",method="OTHER",status="404"} 1');
    expect(text).not.toContain('BREW');
    expect(text).not.toContain('process_cpu');
    const withProcess = await createMetrics('svc').registry.metrics();
    expect(withProcess).toContain('process_cpu_user_seconds_total');
  });
});

describe('tracing and logs', () => {
  it('propagates W3C trace context and stamps log lines with the active trace id', async () => {
    const tracing = initTracing('test-svc', {});
    expect(tracing.exporting).toBe(false);
    const incoming = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    const parent = tracing.extract(incoming);
    const span = tracing.tracer.startSpan('work', {}, parent);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = createLogger('test-svc', { level: 'info' }, sink);
    context.with(trace.setSpan(parent, span), () => {
      const headers = tracing.headers();
      // Same trace, our span as the new parent.
      expect(headers['traceparent']).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      expect(headers['traceparent']).not.toContain('00f067aa0ba902b7');
      expect(activeTraceIds().trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      logger.info('inside');
    });
    span.end();
    logger.info('outside');
    const [inside, outside] = lines.map((l) => JSON.parse(l));
    expect(inside).toMatchObject({ service: 'test-svc', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', msg: 'inside' });
    expect(outside.trace_id).toBeUndefined();
    expect(tracing.headers()).toEqual({});
  });
});
