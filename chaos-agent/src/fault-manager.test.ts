import type { AgentEvent, AgentMessage } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { AgentDrivers } from './drivers/index.ts';
import { FaultManager } from './fault-manager.ts';
import { AgentMetrics } from './metrics.ts';
import { TargetRegistry, type Registration } from './registry.ts';

// How an in-process fault ends, as the manager records it: the service acknowledges by message, so a
// registration that answers at once stands in for a service's control stream.

function setup(answerRecover = true) {
  const targets = new TargetRegistry();
  const events: AgentEvent[] = [];
  const manager = new FaultManager({
    targets,
    metrics: new AgentMetrics(),
    drivers: new AgentDrivers([]),
    ackTimeoutMs: 300,
    onEvent: (e) => events.push(e),
  });
  const send = (m: AgentMessage): void => {
    const ack = m.apply
      ? { faultId: m.apply.faultId, action: 'apply' as const }
      : m.recover && answerRecover
        ? { faultId: m.recover.faultId, action: 'recover' as const }
        : undefined;
    if (ack)
      queueMicrotask(() =>
        registration.onAck({ ...ack, ok: true, error: '', effectJson: '{"took":true,"summary":"s","figures":{}}' }),
      );
  };
  const registration: Registration = targets.add(
    { name: 'svc', namespace: 'default', labels: {}, pid: 1, ports: [] },
    send,
    () => undefined,
  );
  const apply = (experimentUid: string, leaseMs = 60_000) =>
    manager.apply({ experimentUid, targetId: registration.target.id, kind: 'http-error', specJson: '{}', leaseMs });
  return { manager, targets, registration, events, apply };
}

describe('FaultManager: how an in-process fault ended', () => {
  it('recovered when asked, with the effect the service measured', async () => {
    const t = setup();
    await t.apply('a');
    const [f] = await t.manager.recover('a');
    expect(f).toMatchObject({
      phase: 'recovered',
      endedBy: 'recovered',
      effectJson: expect.stringContaining('"took":true'),
    });
  });

  it('target-gone when the service went first: its faults went with it, and the effect is said to be lost', async () => {
    const t = setup();
    await t.apply('b');
    t.targets.remove(t.registration.target.id);
    t.manager.targetGone(t.registration.target.id);
    const [f] = await t.manager.recover('b');
    expect(f).toMatchObject({ phase: 'recovered', endedBy: 'target-gone' });
    expect(f!.effectJson).toMatch(/ended before the fault was recovered/);
    expect(t.events.map((e) => e.type)).toEqual(['fault-injected', 'fault-recovered']);
  });

  it('failed, and still says why it ended, when the service does not acknowledge the recover', async () => {
    const t = setup(false);
    await t.apply('c');
    const [f] = await t.manager.recover('c');
    expect(f).toMatchObject({
      phase: 'failed',
      endedBy: 'recovered',
      error: expect.stringMatching(/^recover failed: /),
    });
  });
});
