import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_CATALOGUE, FaultSpecError, type FaultKindEntry } from '@nova/faults';
import { afterAll, describe, expect, it } from 'vitest';
import { ContainerJournal } from './container.ts';
import { AgentDrivers, driverList, type AnyProcessDriver } from './index.ts';
import { FailureJournal } from './failure-journal.ts';

// The agent's drivers against the fault catalogue: every kind the catalogue gives to the agent has exactly
// one driver here, at the catalogued layer, with the catalogue's spec checks (so a controller that checked a
// planned spec against the catalogue never sees the agent refuse it).

const stateDir = mkdtempSync(join(tmpdir(), 'nova-catalogue-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const everyDriver = driverList({
  failures: new FailureJournal(stateDir),
  docker: { journal: new ContainerJournal(stateDir), hostCpus: 2, netem: true },
});
const agentKinds = (Object.values(FAULT_CATALOGUE) as FaultKindEntry[]).filter((e) => e.layer !== 'in-process');

describe('agent drivers and the fault catalogue', () => {
  it('has one driver per catalogued process, container and kernel kind, at its layer', () => {
    expect(everyDriver.map((d) => d.kind).sort()).toEqual(agentKinds.map((e) => e.kind).sort());
    for (const d of everyDriver) {
      const entry = agentKinds.find((e) => e.kind === d.kind)!;
      expect({ kind: d.kind, layer: d.layer, description: d.description }).toEqual({
        kind: entry.kind,
        layer: entry.layer,
        description: entry.description,
      });
    }
  });

  it('offers kernel-netem only where the kernel has netem, and no Docker kinds without Docker', () => {
    const noNetem = driverList({
      failures: new FailureJournal(stateDir),
      docker: { journal: new ContainerJournal(stateDir), hostCpus: 2, netem: false },
    });
    expect(noNetem.map((d) => d.kind)).not.toContain('kernel-netem');
    expect(driverList({ failures: new FailureJournal(stateDir) }).map((d) => d.layer)).toEqual(['process', 'process']);
  });

  it.each([
    ['process-kill', { signal: 'SIGHUP' }, 'signal'],
    ['process-failure', { seconds: 3 }, 'seconds'],
    ['container-stress', { load: 140 }, 'load'],
    ['kernel-partition', { direction: 'to' }, 'peers'],
    ['kernel-loss', { percent: -1 }, 'percent'],
    ['kernel-bandwidth', {}, 'bytesPerSecond'],
    ['kernel-netem', { delayMs: 'fast' }, 'delayMs'],
  ])('%s refuses %j naming %s, through its driver and the registry alike', (kind, spec, field) => {
    const driver = everyDriver.find((d) => d.kind === kind)!;
    expect(() => driver.parse(spec)).toThrow(FaultSpecError);
    expect(() => driver.parse(spec)).toThrow(new RegExp(`${field}`));
    expect(() => new AgentDrivers(everyDriver).parse(kind, spec)).toThrow(FaultSpecError);
  });

  it('refuses a driver that claims another layer than its catalogue entry', () => {
    const kill = everyDriver.find((d) => d.kind === 'process-kill')!;
    const misfiled: AnyProcessDriver = { ...kill, layer: 'kernel' };
    expect(() => new AgentDrivers([misfiled])).toThrow(/process-kill.*kernel layer.*catalogue says process/);
  });
});
