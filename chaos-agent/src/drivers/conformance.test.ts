import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEffect } from '@nova/faults';
import type { AgentEvent, Fault } from '@nova/proto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../test/helpers.ts';
import { FaultManager } from '../fault-manager.ts';
import { AgentMetrics } from '../metrics.ts';
import { TargetRegistry } from '../registry.ts';
import { agentDrivers, AgentDrivers, type AnyProcessDriver } from './index.ts';
import { alive, processState } from './process.ts';

/**
 * The same cases for every driver an agent registers on this host (process layer; the container and kernel
 * layers need Docker and run in tools/chaos/test/containers.e2e.test.ts): apply, recover, recover twice,
 * recover after the target is gone, lease expiry, and a failed undo reported as failed. Each driver says
 * how its effect is seen at the target; a driver added to the registry without a probe here fails the test.
 */
interface Probe {
  spec: Record<string, unknown>;
  /** The fault is in place at the target (pid). */
  active(pid: number): boolean;
  /** The target is as it was, or (one-shot faults) the fault is over. */
  reverted(pid: number): boolean;
  /** A one-shot fault (a kill) ends by itself; a lasting one holds until recover or lease. */
  oneShot: boolean;
}

const PROBES: Record<string, Probe> = {
  'process-kill': {
    spec: { signal: 'SIGKILL' },
    active: (pid) => !alive(pid),
    reverted: (pid) => !alive(pid),
    oneShot: true,
  },
  'process-failure': {
    spec: {},
    active: (pid) => processState(pid) === 'T',
    reverted: (pid) => processState(pid) !== 'T',
    oneShot: false,
  },
};

const log = pino({ level: 'silent' });
let stateDir: string;
let registered: AgentDrivers;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'nova-conformance-'));
  registered = await agentDrivers({ stateDir, log });
});

afterEach(() => {
  // Only the processes this test started, by pid; a stopped one is resumed so SIGKILL ends it.
  for (const c of children.splice(0)) {
    if (c.pid !== undefined && alive(c.pid)) {
      process.kill(c.pid, 'SIGCONT');
      c.kill('SIGKILL');
    }
  }
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** A fresh target process (a child we started), registered with a manager over the given drivers. */
function setup(drivers: AgentDrivers) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  const targets = new TargetRegistry();
  const events: AgentEvent[] = [];
  const manager = new FaultManager({ targets, metrics: new AgentMetrics(), drivers, onEvent: (e) => events.push(e) });
  const hello = { name: 'svc', namespace: 'default', labels: {}, pid, ports: [] };
  const { target } = targets.add(
    hello,
    () => undefined,
    () => undefined,
    '127.0.0.1:1',
    pid,
  );
  let n = 0;
  const apply = (kind: string, leaseMs = 60_000): Promise<Fault> =>
    manager.apply({
      experimentUid: `e${++n}`,
      targetId: target.id,
      kind,
      specJson: JSON.stringify(PROBES[kind]!.spec),
      leaseMs,
    });
  const phaseOf = (id: string): string | undefined => manager.list(true).find((f) => f.id === id)?.phase;
  return { pid, child, target, targets, manager, events, apply, phaseOf };
}

/** The driver with an undo that fails after doing its work: what a driver whose revert breaks looks like. */
function failingUndo(driver: AnyProcessDriver): AnyProcessDriver {
  return {
    ...driver,
    async apply(...args: Parameters<AnyProcessDriver['apply']>) {
      const injection = await driver.apply(...args);
      return {
        settled: injection.settled,
        undo: async () => {
          await injection.undo();
          throw new Error('undo broke (conformance test)');
        },
        ...(injection.effect ? { effect: injection.effect } : {}),
      };
    },
  };
}

describe('driver conformance', () => {
  it('covers every driver the agent registers here', () => {
    const own = registered
      .list()
      .filter((k) => k.layer !== 'in-process')
      .map((k) => k.kind);
    expect(own.sort()).toEqual(Object.keys(PROBES).sort());
  });

  for (const [kind, probe] of Object.entries(PROBES)) {
    describe(kind, () => {
      it('apply: the fault is in place at the target and listed as injected', async () => {
        const t = setup(registered);
        const fault = await t.apply(kind);
        expect(fault.phase).toBe('injected');
        await until(() => probe.active(t.pid), 2_000, `${kind} in place`);
        expect(t.events.map((e) => e.type)).toContain('fault-injected');
        await t.manager.recoverAll();
      });

      it('recover: the target is reverted, the fault recovered with an effect that took', async () => {
        const t = setup(registered);
        const fault = await t.apply(kind);
        await until(() => probe.active(t.pid), 2_000, `${kind} in place`);
        const [recovered] = await t.manager.recover(fault.experimentUid);
        expect(recovered!.phase).toBe('recovered');
        // A kill may have completed by itself before the recover came.
        expect(probe.oneShot ? ['completed', 'recovered'] : ['recovered']).toContain(recovered!.endedBy);
        expect(probe.reverted(t.pid)).toBe(true);
        expect(parseEffect(recovered!.effectJson)?.took).toBe(true);
        expect(t.manager.activeCount).toBe(0);
      });

      it('recover twice: the second is a no-op that reports the same outcome', async () => {
        const t = setup(registered);
        const fault = await t.apply(kind);
        await until(() => probe.active(t.pid), 2_000, `${kind} in place`);
        const [first] = await t.manager.recover(fault.experimentUid);
        const at = first!.recoveredAtMs;
        const [second] = await t.manager.recover(fault.experimentUid);
        expect(second!.phase).toBe('recovered');
        expect(second!.recoveredAtMs).toBe(at);
        expect(t.events.filter((e) => e.type === 'fault-recovered')).toHaveLength(1);
        expect(probe.reverted(t.pid)).toBe(true);
      });

      it('recover after the target is gone: no error, the fault ends recovered', async () => {
        const t = setup(registered);
        const fault = await t.apply(kind);
        await until(() => probe.active(t.pid), 2_000, `${kind} in place`);
        if (t.child.exitCode === null && t.child.signalCode === null) {
          const exited = new Promise((r) => t.child.once('exit', r));
          t.child.kill('SIGKILL');
          await exited;
        }
        // What the server does when the target's control stream ends.
        t.targets.remove(t.target.id);
        t.manager.targetGone(t.target.id);
        const [after] = await t.manager.recover(fault.experimentUid);
        expect(after!.phase).toBe('recovered');
        // A held-down target (stopped, paused) keeps its fault until it is resumed: the recover ends it.
        const holds = registered.own(kind)?.holdsTarget === true;
        expect(after!.endedBy).toBe(probe.oneShot ? 'completed' : holds ? 'recovered' : 'target-gone');
        expect(t.manager.activeCount).toBe(0);
      });

      it('lease expiry: the agent ends the fault by itself at its lease', async () => {
        const t = setup(registered);
        const leaseMs = 400;
        const started = performance.now();
        const fault = await t.apply(kind, leaseMs);
        await until(() => t.phaseOf(fault.id) !== 'injected', 5_000, `${kind} ended by its lease`);
        const elapsed = performance.now() - started;
        expect(t.phaseOf(fault.id)).toBe('recovered');
        expect(t.manager.list(true).find((f) => f.id === fault.id)?.endedBy).toBe(
          probe.oneShot ? 'completed' : 'expired',
        );
        expect(probe.reverted(t.pid)).toBe(true);
        if (probe.oneShot) {
          // A kill is over when the target is gone, long before its lease.
          expect(elapsed).toBeLessThan(leaseMs);
        } else {
          expect(elapsed).toBeGreaterThanOrEqual(leaseMs - 5);
          expect(t.events.map((e) => e.type)).toContain('fault-expired');
        }
      });

      it('a failed undo is reported as failed, with the reason, not as recovered', async () => {
        const driver = registered.own(kind)!;
        const t = setup(new AgentDrivers([failingUndo(driver)]));
        const fault = await t.apply(kind);
        await until(() => probe.active(t.pid), 2_000, `${kind} in place`);
        const [after] = await t.manager.recover(fault.experimentUid);
        expect(after!.phase).toBe('failed');
        expect(after!.error).toMatch(/recover failed: undo broke/);
        expect(t.events.at(-1)?.type).toBe('fault-failed');
      });
    });
  }
});
