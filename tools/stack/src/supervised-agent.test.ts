import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '@nova/process-kit';
import { bearer, createAgentClient, FAILURE_JOURNAL_FILE, unary } from '@nova/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { awaitRegistrations, listTargets } from './chaos-environment.ts';
import { startStack, type Stack } from './stack.ts';
import { startSupervisedAgent, type AgentLifecycleEvent, type SupervisedAgent } from './supervised-agent.ts';

// A controller's agent dies (SIGKILL, as a crash): it comes back on its address by itself, the real services
// find it again and register, and a stop is final. Everything here is a real process we started.

let agent: SupervisedAgent | undefined;
let stack: Stack | undefined;
afterAll(async () => {
  await stack?.stop();
  await agent?.stop();
}, 30_000);

describe('the supervised chaos agent', () => {
  it('is restarted on its address when killed; the services register again; a stop is not restarted', async () => {
    const events: AgentLifecycleEvent[] = [];
    const token = randomBytes(24).toString('hex');
    const serviceToken = randomBytes(24).toString('hex');
    agent = await startSupervisedAgent({
      stateDir: mkdtempSync(join(tmpdir(), 'nova-supervised-agent-')),
      token,
      serviceToken,
      onLifecycle: (e) => events.push(e),
    });
    stack = await startStack({
      chaosAgent: { address: agent.address, token: serviceToken },
      env: { LOG_LEVEL: 'error' },
    });
    const client = createAgentClient(agent.address);
    const targets = listTargets(client, token);
    try {
      await awaitRegistrations(targets, stack.instances.length);
      const first = agent.proc;
      const back = agent.restarted();
      first.kill('SIGKILL');
      await back;
      expect(agent.proc.pid).not.toBe(first.pid);
      expect(agent.restarts).toBe(1);
      expect(events).toEqual([
        { instance: 'chaos-agent', type: 'exited', code: null },
        { instance: 'chaos-agent', type: 'restarted', code: null },
      ]);
      // Same address: the services' control streams reconnect and register with the new agent.
      await awaitRegistrations(targets, stack.instances.length, 20_000);
      expect((await targets()).map((t) => t.name).sort()).toEqual(
        stack.instances.map((i) => `${i.service}-service`).sort(),
      );

      const last = agent.proc;
      const exited = new Promise((r) => last.once('exit', r));
      await agent.stop();
      await exited;
      await new Promise((r) => setTimeout(r, 600));
      expect(events).toHaveLength(2);
      expect(agent.proc).toBe(last);
    } finally {
      client.close();
    }
  }, 90_000);

  it('is killed and restarted when it hangs (SIGSTOP): its liveness probe, a ListKinds call, stops being answered', async () => {
    const events: AgentLifecycleEvent[] = [];
    const token = randomBytes(24).toString('hex');
    const stateDir = mkdtempSync(join(tmpdir(), 'nova-supervised-agent-'));
    const hung = await startSupervisedAgent({
      stateDir,
      token,
      serviceToken: randomBytes(24).toString('hex'),
      liveness: { periodMs: 300, timeoutMs: 300, failureThreshold: 3 },
      onLifecycle: (e) => events.push(e),
    });
    const client = createAgentClient(hung.address);
    try {
      // What the agent's journal says it holds stopped (a process-failure fault) is what a supervisor leaves be.
      expect(hung.holdsStopped(4_194_305)).toBe(false);
      writeFileSync(join(stateDir, FAILURE_JOURNAL_FILE), '4194305\n');
      expect(hung.holdsStopped(4_194_305)).toBe(true);
      writeFileSync(join(stateDir, FAILURE_JOURNAL_FILE), '');
      // Answering: many probe periods pass with no event.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(events).toEqual([]);
      const first = hung.proc;
      const back = hung.restarted();
      const stoppedAt = Date.now();
      first.kill('SIGSTOP');
      await back;
      // ~1 s of failed probes, then SIGTERM (never acted on: stopped) and SIGKILL 2 s later, then a restart.
      expect(Date.now() - stoppedAt).toBeLessThan(15_000);
      expect(events.map((e) => e.type)).toEqual(['unresponsive', 'exited', 'restarted']);
      expect(events[0]!.reason).toMatch(
        /^3 liveness probes \(ListKinds\) failed in a row \(last: .+\); killing pid \d+$/,
      );
      expect(first.signalCode).toBe('SIGKILL');
      expect(pidAlive(first.pid!)).toBe(false);
      expect(hung.proc.pid).not.toBe(first.pid);
      // The new agent, on the same address, answers.
      expect((await unary(client.listKinds.bind(client), {}, bearer(token))).kinds.length).toBeGreaterThan(0);
    } finally {
      client.close();
      await hung.stop();
    }
  }, 60_000);
});
