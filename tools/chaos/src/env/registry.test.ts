import { describe, expect, it } from 'vitest';
import { ENVIRONMENTS } from '../cli/common.ts';
import { ENVIRONMENT_KINDS, environmentKind, STARTABLE } from './registry.ts';

describe('the environments registry', () => {
  it('names each environment once; the ones --env starts are the ones with a start', () => {
    const names = ENVIRONMENT_KINDS.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(['local', 'containers', 'k8s']);
    expect([...STARTABLE]).toEqual([...ENVIRONMENTS]);
    expect(environmentKind('k8s')?.start).toBeUndefined();
    expect(environmentKind('moon')).toBeUndefined();
  });

  it('says what each environment needs, with the fix for what is missing', () => {
    expect(
      environmentKind('local')!
        .needs()
        .every((n) => n.ok),
    ).toBe(true);
    const containers = environmentKind('containers')!.needs();
    expect(containers.map((n) => n.what.split(' (')[0])).toEqual(['root', 'a running Docker engine']);
    for (const n of containers) expect(n.fix).toBeTruthy();
    const saved = process.env['PROMETHEUS_URL'];
    delete process.env['PROMETHEUS_URL'];
    try {
      const prometheus = environmentKind('k8s')!
        .needs()
        .find((n) => n.what.startsWith('a Prometheus'))!;
      expect(prometheus).toMatchObject({ ok: false, fix: expect.stringMatching(/PROMETHEUS_URL/) });
    } finally {
      if (saved !== undefined) process.env['PROMETHEUS_URL'] = saved;
    }
  });
});
