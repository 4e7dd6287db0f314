/**
 * Interleaved rounds measured in replications: each replication is a fresh process running the same benchmark
 * file, which measures its share of the rounds and hands them back as one JSON line.
 *
 * Why: a process carries its own level (where the JIT placed and inlined the cases). On a quiet day the resilience
 * benchmark's open-breaker case read 1,716–1,830 ns across five one-process runs, two levels, while each run's
 * rounds agreed to ±1 %; the telemetry benchmark's next-run intervals held the other runs' medians in 12 of 20
 * pairs for the same reason. Several processes per run put that level inside the run's interval (the next-run
 * interval's batches are the replications) and average it out of the run's median.
 */
import { spawnSync } from 'node:child_process';
import { interleave, type Measure } from './rounds.ts';

/** Set in a replication's process: how many rounds it measures. */
const ROUNDS_VARIABLE = 'BENCH_REPLICATE';
/** Set in a replication's process: which case goes first in its first measured round. */
const ROTATION_VARIABLE = 'BENCH_ROTATION';
/** The line a replication prints its rounds on starts with this. */
const LINE_PREFIX = '{"replicate"';

/** Options of {@link replicatedRounds}. */
export interface ReplicatedOptions {
  /** Rounds per replication, in order, e.g. `replicationSizes(15)` → [3, 3, 3, 3, 3]. */
  sizes: readonly number[];
  /** The benchmark file to run for each replication (`fileURLToPath(import.meta.url)`), with this process's Node flags. */
  script: string;
  /** Rounds each replication runs first and throws away. Default 1. */
  warmup?: number;
}

/** Whether this process is a replication started by {@link replicatedRounds} (it should only measure). */
export function inReplication(): boolean {
  return process.env[ROUNDS_VARIABLE] !== undefined;
}

/**
 * In the benchmark's own process: runs one replication per entry of `sizes`, one after the other, each a fresh
 * process of `script` (pinning and Node flags inherited), and returns per case every measured round, in order —
 * paired across cases as {@link interleave}'s are. Each replication goes on with the rotation where the last one
 * stopped, as one process's rounds would.
 *
 * In a replication (`script` calling this again): measures its rounds, prints them and exits; never returns.
 *
 * @throws Error naming the exit status when a replication fails or prints no rounds.
 */
export async function replicatedRounds<K extends string>(
  cases: Record<K, Measure>,
  options: ReplicatedOptions,
): Promise<Record<K, number[]>> {
  const names = Object.keys(cases) as K[];
  if (inReplication()) {
    const rounds = await interleave(cases, {
      rounds: Number(process.env[ROUNDS_VARIABLE]),
      warmup: options.warmup ?? 1,
      rotation: Number(process.env[ROTATION_VARIABLE] ?? 0),
    });
    console.log(JSON.stringify({ replicate: rounds }));
    process.exit(0);
  }
  const out = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  let measured = 0;
  for (const [i, size] of options.sizes.entries()) {
    const child = spawnSync(process.execPath, [...process.execArgv, options.script], {
      env: { ...process.env, [ROUNDS_VARIABLE]: String(size), [ROTATION_VARIABLE]: String(measured) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = child.stdout?.split('\n').find((l) => l.startsWith(LINE_PREFIX));
    if (child.status !== 0 || !line) {
      throw new Error(
        `replication ${i + 1} of ${options.sizes.length} (${options.script}) exited ${child.status ?? child.signal}${line ? '' : ' without printing its rounds'}`,
      );
    }
    const got = (JSON.parse(line) as { replicate: Record<K, number[]> }).replicate;
    for (const name of names) {
      if (got[name]?.length !== size) throw new Error(`replication ${i + 1} returned no ${size} rounds of ${name}`);
      out[name].push(...got[name]);
    }
    measured += size;
  }
  return out;
}
