import { createHash } from 'node:crypto';
import { SEEDED_KINDS } from '@nova/faults';
import type { PlannedFault } from './translate.ts';

/**
 * Gives every planned fault whose kind draws random numbers (percent, jitter, correlation) a seed derived
 * from the run's seed, the experiment's name, the target's service and position, and the kind, unless its
 * spec has one. Target ids differ between runs (they hold a PID); these do not, so `chaos run --seed N`
 * makes the same per-request decisions again for the same requests. Returns new planned faults.
 */
export function seedFaults(faults: readonly PlannedFault[], runSeed: number, experiment: string): PlannedFault[] {
  const seen = new Map<string, number>();
  return faults.map((f) => {
    const key = `${f.target.name}\0${f.kind}`;
    const ordinal = seen.get(key) ?? 0;
    seen.set(key, ordinal + 1);
    if (!SEEDED_KINDS.has(f.kind) || f.spec['seed'] !== undefined) return f;
    return { ...f, spec: { ...f.spec, seed: faultSeed(runSeed, experiment, f.target.name, ordinal, f.kind) } };
  });
}

/** A 31-bit seed from the run's seed and what identifies one fault of one experiment across runs. */
export function faultSeed(runSeed: number, experiment: string, service: string, ordinal: number, kind: string): number {
  return (
    createHash('sha256').update(`${runSeed}\0${experiment}\0${service}\0${ordinal}\0${kind}`).digest().readUInt32BE(0) &
    0x7fffffff
  );
}
