/** Options of {@link interleave}. */
export interface RoundsOptions {
  /** Measured rounds. Each case is measured once per round. */
  rounds: number;
  /** Rounds run first and thrown away (JIT warm-up, pools, caches). Default 1. */
  warmup?: number;
  /**
   * Which case goes first in the first measured round (an index into the cases, counted on from there).
   * Default 0. Replications of one benchmark give each its own, so no case is always first in the same rounds.
   */
  rotation?: number;
  /** Run a full GC between rounds when the process has `--expose-gc`. Default true. */
  gc?: boolean;
  /** Called after each measured round, e.g. to show progress. */
  onRound?: (round: number, values: Readonly<Record<string, number>>) => void;
}

/** A measurement of one case: resolves to the figure of that case for this round (ns/call, req/s, …). */
export type Measure = () => Promise<number>;

/** Whether {@link interleave} can collect garbage between rounds in this process. */
export function canCollectGarbage(): boolean {
  return typeof globalThis.gc === 'function';
}

/**
 * Measures every case once per round, round after round, alternating the cases round-robin and rotating
 * which case goes first, so that slow drift of the machine (thermal, a neighbour's burst, heap growth) hits
 * every case alike and cancels in per-round ratios. Warm-up rounds are run and discarded.
 *
 * @returns per case, the figure of each measured round, in round order (paired across cases).
 */
export async function interleave<K extends string>(
  cases: Record<K, Measure>,
  options: RoundsOptions,
): Promise<Record<K, number[]>> {
  const names = Object.keys(cases) as K[];
  if (names.length === 0) throw new RangeError('interleave needs at least one case');
  if (!Number.isInteger(options.rounds) || options.rounds < 1) {
    throw new RangeError(`rounds must be a whole number ≥ 1, got ${options.rounds}`);
  }
  const warmup = options.warmup ?? 1;
  const rotation = options.rotation ?? 0;
  const gc = options.gc !== false && canCollectGarbage();
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let r = -warmup; r < options.rounds; r++) {
    const values = {} as Record<K, number>;
    const start = (((r + rotation) % names.length) + names.length) % names.length;
    for (let i = 0; i < names.length; i++) {
      const name = names[(start + i) % names.length]!;
      if (gc) globalThis.gc!();
      values[name] = await cases[name]();
    }
    if (r < 0) continue;
    for (const name of names) out[name].push(values[name]);
    options.onRound?.(r, values);
  }
  return out;
}
