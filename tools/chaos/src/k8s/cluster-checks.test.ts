import { describe, expect, it } from 'vitest';
import { hypothesesFrom } from '../verdict/hypotheses.ts';
import { clusterChecks, recordChecks } from './cluster-checks.ts';
import type { Prometheus, WindowFigures } from './promql.ts';

/** A Prometheus that answers each query from a table, and records what it was asked and when. */
function prometheus(answers: Record<string, number | undefined>): Prometheus & { asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = [];
  return {
    asked,
    value: async (query: string, atMs: number) => {
      asked.push([query, atMs]);
      return answers[query];
    },
  } as unknown as Prometheus & { asked: Array<[string, number]> };
}

const figures = (o: Partial<WindowFigures> = {}): WindowFigures => ({
  count: 200,
  errorRate: 0,
  p50: 10,
  p95: 40,
  p99: 80,
  errorsBy: new Map(),
  ...o,
});
const phases = { baselineStart: 0, faultStart: 10_000, faultEnd: 40_000, verifyEnd: 45_000 };

describe('hypotheses judged from Prometheus', () => {
  it('says the per-journey hypotheses and a surge were not judged, as unmet evidence (never a silent pass)', async () => {
    const h = hypothesesFrom({
      'nova.dev/load-surge': 'login=100',
      'nova.dev/journey-min-goodput': 'login=25',
      'nova.dev/journey-max-p99-ms': 'read-profile=300',
    });
    const checks = await clusterChecks(h, prometheus({}), phases, figures(), figures());
    expect(checks.find((c) => c.name === 'per-journey hypotheses')).toEqual({
      name: 'per-journey hypotheses',
      ok: false,
      measured:
        "not judged on a cluster (journey-max-p99-ms read-profile, journey-min-goodput login, load-surge login): they need the built-in load's samples",
      expected: 'judged (run the experiment with --env local or containers)',
      evidence: true,
    });
    const plain = await clusterChecks(hypothesesFrom({}), prometheus({}), phases, figures(), figures());
    expect(plain.some((c) => c.name === 'per-journey hypotheses')).toBe(false);
  });

  it('asks for each declared series over the fault window, keyed as the annotations write them', async () => {
    const prom = prometheus({
      'max(max_over_time((circuit_breaker_state{service="messaging-service",upstream="user-service"} == bool 1)[30s]))': 1,
      'sum(increase(fallback_used_total{service="messaging-service",upstream="user-service"}[30s]))': 12.4,
      'sum(increase(resilience_events_total{service="messaging-service",kind="retry"}[30s]))': 0,
    });
    const h = hypothesesFrom({
      'nova.dev/max-p99-ms': '100',
      'nova.dev/expect-breaker-open': 'messaging-service->user-service',
      'nova.dev/expect-fallback': 'messaging-service->user-service',
      'nova.dev/expect-no-events': 'messaging-service:retry',
    });
    const checks = await clusterChecks(h, prom, phases, figures({ errorRate: 0.01, count: 300 }), figures());
    expect(checks.map((c) => [c.name, c.ok, c.measured])).toEqual([
      ['error rate during the fault', true, '1.0 % (3/300 answered 5xx)'],
      ['p99 during the fault', true, '80 ms'],
      ['breaker messaging-service->user-service', true, 'opened'],
      ['fallback messaging-service->user-service', true, 'used 12 times'],
      ['no events messaging-service:retry', true, '0 during the fault'],
      ['recovery after the fault', true, '0.0 % errors in the 5 s after (200 requests)'],
    ]);
    // Every series is read at the fault's end.
    expect(new Set(prom.asked.map(([, at]) => at))).toEqual(new Set([40_000]));
  });

  it('fails what the figures break: errors, p99, a breaker that stayed closed, no traffic after the fault', async () => {
    const h = hypothesesFrom({
      'nova.dev/max-error-rate': '0.01',
      'nova.dev/max-p99-ms': '50',
      'nova.dev/expect-breaker-open': 'a->b',
    });
    const checks = await clusterChecks(h, prometheus({}), phases, figures({ errorRate: 0.2 }), figures({ count: 0 }));
    expect(checks.filter((c) => !c.ok).map((c) => [c.name, c.measured])).toEqual([
      ['error rate during the fault', '20.0 % (40/200 answered 5xx)'],
      ['p99 during the fault', '80 ms'],
      ['breaker a->b', 'stayed closed'],
      ['recovery after the fault', 'no request answered after the fault'],
    ]);
  });
});

describe("Chaos Mesh's records as evidence", () => {
  it('is one evidence check per record; none at all is a failed evidence check, never a pass', () => {
    expect(recordChecks(undefined)).toEqual([expect.objectContaining({ ok: false, evidence: true })]);
    const o = {
      status: {
        experiment: {
          containerRecords: [
            { id: 'default/auth-0', phase: 'Recovered', injectedCount: 1, recoveredCount: 1 },
            { id: 'default/auth-1', phase: 'Not Injected', injectedCount: 0, recoveredCount: 0 },
          ],
        },
      },
    };
    expect(recordChecks(o).map((c) => [c.name, c.ok, c.measured])).toEqual([
      ['fault took effect on default/auth-0 (Chaos Mesh record)', true, 'Recovered, injected 1×, recovered 1×'],
      ['fault took effect on default/auth-1 (Chaos Mesh record)', false, 'Not Injected, injected 0×, recovered 0×'],
    ]);
  });
});
