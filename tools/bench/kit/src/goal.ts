import type { Summary } from './stats.ts';

/** A speed goal on one figure: `figure op target`, e.g. `composed_ns <= 900`. */
export interface Goal {
  /** Name of the figure (a case or a ratio) the goal is about. */
  readonly figure: string;
  readonly op: '<=' | '>=';
  readonly target: number;
  /** Where the goal comes from (an issue, a doc), shown beside the outcome. */
  readonly source?: string;
}

/**
 * `met`: the whole interval is on the right side; `missed`: the whole interval is on the wrong side (missed
 * with confidence); `inconclusive`: the interval straddles the target, so this run cannot tell.
 */
export type GoalOutcome = 'met' | 'missed' | 'inconclusive';

/** Judges a goal against a figure's confidence interval, never against its median alone. */
export function judge(goal: Goal, summary: Summary): GoalOutcome {
  const [lo, hi] = summary.ci;
  if (goal.op === '<=') {
    if (hi <= goal.target) return 'met';
    if (lo > goal.target) return 'missed';
    return 'inconclusive';
  }
  if (lo >= goal.target) return 'met';
  if (hi < goal.target) return 'missed';
  return 'inconclusive';
}
