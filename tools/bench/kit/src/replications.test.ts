import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/replicated-bench.ts', import.meta.url));

/** Runs the fixture benchmark and returns the JSON line it printed. */
function run(env: Record<string, string> = {}): {
  parent?: number;
  rounds?: { a: number[]; b: number[] };
  error?: string;
} {
  const out = execFileSync(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const pid = (v: number): number => Math.floor(v / 1000);
const order = (v: number): number => v % 1000;

describe('replicatedRounds', () => {
  it('measures each share of the rounds in a fresh process of its own, paired, rotation carried on', () => {
    const { parent, rounds } = run({ FIXTURE_SIZES: '[2, 1, 3]' });
    expect(rounds!.a).toHaveLength(6);
    expect(rounds!.b).toHaveLength(6);
    // Both cases of a round come from one process; replications are 2, 1 and 3 rounds, three processes, none
    // of them the benchmark's own.
    const pids = rounds!.a.map(pid);
    expect(rounds!.b.map(pid)).toEqual(pids);
    expect(pids[0]).toBe(pids[1]);
    expect(new Set(pids.slice(3)).size).toBe(1);
    expect(new Set([pids[0], pids[2], pids[3]]).size).toBe(3);
    expect(pids).not.toContain(parent);
    // The first case alternates round after round across processes: a, b, a, b, a, b.
    const aFirst = rounds!.a.map((v, r) => order(v) < order(rounds!.b[r]!));
    expect(aFirst).toEqual([true, false, true, false, true, false]);
    // One warm-up round per process is thrown away: its first measured round holds measurements 3 and 4.
    expect(Math.min(order(rounds!.a[0]!), order(rounds!.b[0]!))).toBe(3);
    expect(Math.min(order(rounds!.a[2]!), order(rounds!.b[2]!))).toBe(3);
  });

  it('fails naming the replication and its exit status when one dies', () => {
    expect(run({ FIXTURE_FAIL: '1' }).error).toMatch(
      /^replication 1 of 3 \(.*replicated-bench\.ts\) exited 3 without printing its rounds$/,
    );
  });
});
