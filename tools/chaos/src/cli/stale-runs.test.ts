import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimRunDir, removeDeadRunsData } from './stale-runs.ts';

describe('removeDeadRunsData', () => {
  it("removes the data of runs whose controller is gone, keeping their logs, live runs' data and unclaimed runs", () => {
    const runs = mkdtempSync(join(tmpdir(), 'nova-runs-'));
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
    );
    const run = (id: string, owner?: number): string => {
      const dir = join(runs, id);
      mkdirSync(join(dir, 'data', 'user-0'), { recursive: true });
      writeFileSync(join(dir, 'chaos.log'), 'log');
      if (owner !== undefined) writeFileSync(join(dir, 'controller.pid'), String(owner));
      return dir;
    };
    const killed = run('20261203-000000', dead);
    const live = run('20261203-000001', process.pid);
    const unclaimed = run('20261203-000002');
    expect(removeDeadRunsData(runs)).toEqual([join(killed, 'data')]);
    expect(existsSync(join(killed, 'data'))).toBe(false);
    expect(existsSync(join(killed, 'chaos.log'))).toBe(true);
    expect(existsSync(join(live, 'data'))).toBe(true);
    expect(existsSync(join(unclaimed, 'data'))).toBe(true);
    const mine = join(runs, 'new');
    claimRunDir(mine);
    expect(removeDeadRunsData(runs)).toEqual([]);
    expect(removeDeadRunsData(join(runs, 'nowhere'))).toEqual([]);
  });
});
