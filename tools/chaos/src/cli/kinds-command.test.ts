import { FAULT_KIND_NAMES } from '@nova/faults';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kindsCommand } from './kinds-command.ts';

afterEach(() => vi.restoreAllMocks());

function printed(output?: string): string {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  expect(kindsCommand(output)).toBe(0);
  return lines.join('\n');
}

describe('chaos kinds', () => {
  it('lists every catalogued kind with its layer and the Chaos Mesh actions that become it', () => {
    const text = printed();
    for (const kind of FAULT_KIND_NAMES) expect(text).toMatch(new RegExp(`^${kind} `, 'm'));
    expect(text).toMatch(/^kernel-partition +kernel +NetworkChaos\/partition$/m);
    expect(text).toMatch(/^process-failure +process +PodChaos\/pod-failure$/m);
    expect(text).toMatch(/^net-error +in-process +\(none: the agent's ApplyFault takes it by kind\)$/m);
  });

  it('prints the same as JSON with --output json', () => {
    const rows = JSON.parse(printed('json')) as Array<{ kind: string; layer: string; chaosMesh: string[] }>;
    expect(rows.map((r) => r.kind)).toEqual(FAULT_KIND_NAMES);
    expect(rows.find((r) => r.kind === 'container-pause')).toMatchObject({
      layer: 'container',
      chaosMesh: ['PodChaos/pod-failure'],
    });
  });
});
