import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, createAgentClient, unary, type Fault } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { phaseAt, phaseFigures, phaseTable, phaseThresholds } from '../src/lib/phases.ts';
import { chaosUp, runK6 } from '../src/run.ts';

describe('per-phase verdicts', () => {
  it('puts each moment in its phase and declares thresholds per phase', () => {
    expect([0, 4999, 5000, 12999, 13000].map((t) => phaseAt(0, t, 5, 8))).toEqual([
      'baseline',
      'baseline',
      'fault',
      'fault',
      'recovery',
    ]);
    const t = phaseThresholds({
      baseline: { p95Ms: 500, errorRate: 0.01 },
      fault: { p95Ms: 1500, errorRate: 0.05 },
      recovery: { p95Ms: 500, errorRate: 0.01 },
    });
    expect(t['http_req_duration{phase:fault}']).toEqual(['p(95)<1500']);
    expect(t['http_req_failed{phase:recovery}']).toEqual(['rate<0.01']);
  });

  it('summarises k6 end-of-test data per phase, with threshold results', () => {
    const m = (avg: number, ok = true) => ({ values: { avg, 'p(95)': avg * 2 }, thresholds: { x: { ok } } });
    const f = (rate: number, passes: number, fails: number) => ({ values: { rate, passes, fails } });
    const figures = phaseFigures({
      metrics: {
        'http_req_duration{phase:baseline}': m(10),
        'http_req_duration{phase:baseline,journey:login}': m(12),
        'http_req_failed{phase:baseline}': f(0, 0, 100),
        'http_req_duration{phase:fault}': m(110, false),
        'http_req_duration{phase:fault,journey:login}': m(115),
        'http_req_failed{phase:fault}': f(0.02, 3, 147),
      },
    });
    expect(figures.baseline).toMatchObject({
      requests: 100,
      avgMs: 10,
      p95Ms: 20,
      loginAvgMs: 12,
      errorRate: 0,
      ok: true,
    });
    expect(figures.fault).toMatchObject({ requests: 150, errorRate: 0.02, ok: false });
    expect(figures.recovery.requests).toBe(0);
    expect(phaseTable(figures)).toMatch(/fault\s+150\s+110\.0\s+220\.0\s+115\.0\s+2\.00%\s+THRESHOLD FAILED/);
  });
});

describe('k6 against the local stack (the real k6 binary)', () => {
  it('shows the fault phase slower than the baseline by about the injected delay, and the recovery back near it', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nova-k6-test-'));
    const { up, stop } = await chaosUp(state);
    try {
      const summary = join(state, 'summary.json');
      const code = await runK6(up, {
        FAULT: 'network-delay-auth',
        SUMMARY_JSON: summary,
        BASELINE_S: '4',
        FAULT_S: '6',
        RECOVERY_S: '4',
        RATE: '20',
      });
      expect(code).toBe(0);
      const { phases } = JSON.parse(readFileSync(summary, 'utf8')) as {
        phases: Record<string, { loginAvgMs: number; errorRate: number; requests: number }>;
      };
      const added = phases['fault']!.loginAvgMs - phases['baseline']!.loginAvgMs;
      // network-delay-auth injects 100 ms ± 10 ms on auth-service.
      expect(added).toBeGreaterThan(70);
      expect(added).toBeLessThan(140);
      expect(phases['recovery']!.loginAvgMs).toBeLessThan(phases['baseline']!.loginAvgMs + 25);
      expect(phases['fault']!.errorRate).toBeLessThanOrEqual(0.01);
      expect(phases['baseline']!.requests).toBeGreaterThan(50);
    } finally {
      await stop();
    }
  }, 120_000);

  it('a k6 run killed with SIGKILL (teardown skipped) leaves no active fault once the lease ends', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nova-k6-kill-'));
    const { up, stop } = await chaosUp(state);
    const agent = createAgentClient(up.agent);
    const active = async (): Promise<Fault[]> =>
      (await unary(agent.listFaults.bind(agent), {}, bearer(up.token))).faults;
    try {
      let k6Pid = 0;
      const run = runK6(
        up,
        { FAULT: 'network-delay-auth', BASELINE_S: '1', FAULT_S: '30', RECOVERY_S: '1', RATE: '10' },
        (pid) => (k6Pid = pid),
      );
      const deadline = Date.now() + 30_000;
      while ((await active()).length === 0) {
        if (Date.now() > deadline) throw new Error('the fault never became active');
        await new Promise((r) => setTimeout(r, 200));
      }
      process.kill(k6Pid, 'SIGKILL');
      await run;
      expect((await active()).length).toBeGreaterThan(0);
      // network-delay-auth lasts 8 s; its lease is 8 s + 2 s.
      const gone = Date.now() + 15_000;
      while ((await active()).length > 0) {
        if (Date.now() > gone) throw new Error(`faults still active: ${JSON.stringify(await active())}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      agent.close();
      await stop();
    }
  }, 120_000);
});
