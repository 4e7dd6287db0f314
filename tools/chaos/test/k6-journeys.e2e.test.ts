import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, createAgentClient, unary, type Fault } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { chaosUp, runK6 } from '../src/cli/k6-journeys.ts';

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
