import { describe, expect, it } from 'vitest';
import { infrastructureError } from './infrastructure.ts';

describe('infrastructureError', () => {
  const pass = { verdict: 'pass', name: 'x' };
  const deaths = [
    { instance: 'postgresql', atMs: 1_000 },
    { instance: 'chaos-agent', atMs: 5_000 },
    { instance: 'postgresql', atMs: 6_000 },
  ];

  it('turns an experiment during which PostgreSQL or the agent died into an error naming them', () => {
    expect(infrastructureError(pass, deaths, 4_000)).toEqual({
      verdict: 'error',
      name: 'x',
      reason:
        'chaos-agent and postgresql died during the experiment (restarted by the supervisor): its figures measured that, not the fault',
    });
  });

  it('leaves alone an experiment that started after the deaths, and a skipped one', () => {
    expect(infrastructureError(pass, deaths, 7_000)).toBe(pass);
    const skipped = { verdict: 'skipped', reason: 'interrupted' };
    expect(infrastructureError(skipped, deaths, 0)).toBe(skipped);
  });
});
