import { describe, expect, it } from 'vitest';
import { IN_PROCESS_DRIVERS } from '../drivers/index.ts';
import { FaultSpecError, UnknownFaultError } from '../errors.ts';
import { FAULT_CATALOGUE, FAULT_KIND_NAMES, faultKind, findFaultKind, kindsFor, parseFaultSpec } from './index.ts';

describe('fault catalogue', () => {
  it('lists every in-process driver once, at the in-process layer, with its own description and spec checks', () => {
    const inProcess = FAULT_KIND_NAMES.filter((k) => faultKind(k).layer === 'in-process');
    expect(inProcess.sort()).toEqual(IN_PROCESS_DRIVERS.map((d) => d.kind).sort());
    for (const d of IN_PROCESS_DRIVERS) {
      expect(faultKind(d.kind).description).toBe(d.description);
      expect(() => parseFaultSpec(d.kind, 'not an object')).toThrow(FaultSpecError);
    }
  });

  it('names each entry by its key', () => {
    for (const [key, entry] of Object.entries(FAULT_CATALOGUE)) expect(entry.kind).toBe(key);
  });

  it('refuses an unknown kind naming every catalogued one, agent kinds included', () => {
    expect(() => faultKind('process-explode')).toThrow(UnknownFaultError);
    expect(() => faultKind('process-explode')).toThrow(/known kinds: .*http-delay.*process-kill.*kernel-netem/);
    expect(findFaultKind('process-explode')).toBeUndefined();
  });

  it('checks the agent kinds too, naming the field', () => {
    expect(parseFaultSpec('process-kill', {})).toEqual({ signal: 'SIGTERM', gracePeriodMs: 5_000 });
    expect(() => parseFaultSpec('process-kill', { signal: 'SIGSTOP' })).toThrow(/signal.*SIGTERM, SIGKILL, SIGINT/);
    expect(() => parseFaultSpec('kernel-duplicate', { percent: 10 })).toThrow(/peers/);
    expect(parseFaultSpec('kernel-bandwidth', { bytesPerSecond: 1_000, bufferBytes: 10 })).toMatchObject({
      bufferBytes: 1_600,
    });
    expect(() => parseFaultSpec('container-pause', { forever: true })).toThrow(/forever.*is not a field/);
  });

  it('maps Chaos Mesh actions to the kinds of every layer that can honour them', () => {
    expect(kindsFor('NetworkChaos/delay')).toEqual(['http-delay', 'net-delay', 'kernel-netem']);
    expect(kindsFor('PodChaos/pod-failure')).toEqual(['process-failure', 'container-pause']);
    expect(kindsFor('TimeChaos')).toEqual(['time-offset']);
    expect(kindsFor('PodChaos/pod-explode')).toEqual([]);
  });
});
