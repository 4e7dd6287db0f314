import { parseEffect } from '@nova/faults';
import type { AgentEvent, Fault, Target } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { AgentDrivers, type AnyProcessDriver } from '../src/drivers/index.ts';
import { FaultManager } from '../src/fault-manager.ts';
import { AgentMetrics } from '../src/metrics.ts';
import { TargetRegistry } from '../src/registry.ts';
import { until } from './helpers.ts';

/**
 * How a conformance case sees one kind's fault at its target (`H`: a pid, a container): the spec to apply,
 * whether it is in place, whether the target is as it was (or, for one-shot faults, the fault is over).
 */
export interface Probe<H> {
  spec: Record<string, unknown>;
  active(h: H): boolean | Promise<boolean>;
  reverted(h: H): boolean | Promise<boolean>;
  /** A one-shot fault (a kill) ends by itself; a lasting one holds until recover or lease. */
  oneShot: boolean;
  /** How long the fault must act before its effect can show (traffic through a kernel rule), in ms. */
  actMs?: number;
}

/** A fresh target for one case: what the probes look at, and how to make it vanish. */
export interface Subject<H> {
  handle: H;
  /** The registration's hello and where its stream comes from, as the agent would have seen them. */
  hello: { name: string; labels: Record<string, string>; pid: number };
  peer: string;
  verifiedPid: number | undefined;
  /** Ends the target (its process, its container) and waits until it is gone. */
  vanish(): Promise<void>;
}

/** Where the cases run: the drivers the agent registers there, and how a target is made. */
export interface World<H> {
  registered(): AgentDrivers;
  subject(): Promise<Subject<H>>;
  /** How long a fault may take to be seen in place, in ms. */
  applyMs: number;
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

async function setup<H>(world: World<H>, probes: Record<string, Probe<H>>, drivers: AgentDrivers) {
  const subject = await world.subject();
  const targets = new TargetRegistry();
  const events: AgentEvent[] = [];
  const manager = new FaultManager({ targets, metrics: new AgentMetrics(), drivers, onEvent: (e) => events.push(e) });
  const { target } = targets.add(
    { ...subject.hello, namespace: 'default', ports: [] },
    () => undefined,
    () => undefined,
    subject.peer,
    subject.verifiedPid,
  );
  let n = 0;
  const apply = (kind: string, leaseMs = 60_000): Promise<Fault> =>
    manager.apply({
      experimentUid: `e${++n}`,
      targetId: target.id,
      kind,
      specJson: JSON.stringify(probes[kind]!.spec),
      leaseMs,
    });
  const phaseOf = (id: string): Fault | undefined => manager.list(true).find((f) => f.id === id);
  return { h: subject.handle, subject, target: target as Target, targets, manager, events, apply, phaseOf };
}

/**
 * The same cases for every driver a world registers: apply, recover, recover twice, recover after the target
 * is gone, lease expiry, and a failed undo reported as failed. A registered driver without a probe fails.
 */
export function conformanceCases<H>(world: World<H>, probes: Record<string, Probe<H>>): void {
  it('covers every driver the agent registers here', () => {
    const own = world
      .registered()
      .list()
      .filter((k) => k.layer !== 'in-process')
      .map((k) => k.kind);
    expect(own.sort()).toEqual(Object.keys(probes).sort());
  });

  for (const [kind, probe] of Object.entries(probes)) {
    const inPlace = async (t: { h: H }): Promise<void> => {
      await until(() => probe.active(t.h), world.applyMs, `${kind} in place`);
      if (probe.actMs) await new Promise((r) => setTimeout(r, probe.actMs));
    };
    describe(kind, () => {
      it('apply: the fault is in place at the target and listed as injected', async () => {
        const t = await setup(world, probes, world.registered());
        const fault = await t.apply(kind);
        expect(fault.phase).toBe('injected');
        await inPlace(t);
        expect(t.events.map((e) => e.type)).toContain('fault-injected');
        await t.manager.recoverAll();
      });

      it('recover: the target is reverted, the fault recovered with an effect that took', async () => {
        const t = await setup(world, probes, world.registered());
        const fault = await t.apply(kind);
        await inPlace(t);
        const [recovered] = await t.manager.recover(fault.experimentUid);
        expect(recovered!.phase).toBe('recovered');
        // A kill may have completed by itself before the recover came.
        expect(probe.oneShot ? ['completed', 'recovered'] : ['recovered']).toContain(recovered!.endedBy);
        expect(await probe.reverted(t.h)).toBe(true);
        expect(parseEffect(recovered!.effectJson)).toMatchObject({ took: true });
        expect(t.manager.activeCount).toBe(0);
      });

      it('recover twice: the second is a no-op that reports the same outcome', async () => {
        const t = await setup(world, probes, world.registered());
        const fault = await t.apply(kind);
        await inPlace(t);
        const [first] = await t.manager.recover(fault.experimentUid);
        const [second] = await t.manager.recover(fault.experimentUid);
        expect(second!.phase).toBe('recovered');
        expect(second!.recoveredAtMs).toBe(first!.recoveredAtMs);
        expect(t.events.filter((e) => e.type === 'fault-recovered')).toHaveLength(1);
        expect(await probe.reverted(t.h)).toBe(true);
      });

      it('recover after the target is gone: no error, the fault ends recovered', async () => {
        const t = await setup(world, probes, world.registered());
        const fault = await t.apply(kind);
        await inPlace(t);
        await t.subject.vanish();
        // What the server does when the target's control stream ends.
        t.targets.remove(t.target.id);
        t.manager.targetGone(t.target.id);
        const [after] = await t.manager.recover(fault.experimentUid);
        expect(after!.phase).toBe('recovered');
        // A held-down target (stopped, paused) keeps its fault until it is resumed: the recover ends it.
        const holds = world.registered().own(kind)?.holdsTarget === true;
        expect(after!.endedBy).toBe(probe.oneShot ? 'completed' : holds ? 'recovered' : 'target-gone');
        expect(t.manager.activeCount).toBe(0);
      });

      it('lease expiry: the agent ends the fault by itself at its lease', async () => {
        const t = await setup(world, probes, world.registered());
        const leaseMs = probe.oneShot ? 5_000 : 800;
        const started = performance.now();
        const fault = await t.apply(kind, leaseMs);
        await until(() => t.phaseOf(fault.id)?.phase !== 'injected', leaseMs + 5_000, `${kind} ended by its lease`);
        const elapsed = performance.now() - started;
        expect(t.phaseOf(fault.id), t.phaseOf(fault.id)?.error).toMatchObject({
          phase: 'recovered',
          endedBy: probe.oneShot ? 'completed' : 'expired',
        });
        expect(await probe.reverted(t.h)).toBe(true);
        if (probe.oneShot) {
          // A kill is over when the target is gone, long before its lease.
          expect(elapsed).toBeLessThan(leaseMs);
        } else {
          expect(elapsed).toBeGreaterThanOrEqual(leaseMs - 5);
          expect(t.events.map((e) => e.type)).toContain('fault-expired');
        }
      });

      it('a failed undo is reported as failed, with the reason, not as recovered', async () => {
        const driver = world.registered().own(kind)!;
        const t = await setup(world, probes, new AgentDrivers([failingUndo(driver)]));
        const fault = await t.apply(kind);
        await inPlace(t);
        const [after] = await t.manager.recover(fault.experimentUid);
        expect(after!.phase).toBe('failed');
        expect(after!.error).toMatch(/recover failed: undo broke/);
        expect(t.events.at(-1)?.type).toBe('fault-failed');
      });
    });
  }
}
