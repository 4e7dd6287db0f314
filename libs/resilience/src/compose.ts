import { Pipeline, type Stage } from './policy.ts';

/** What a pipeline may answer instead of the function's result: the union of its fallbacks' values. */
export type AnswerOf<P> = P extends { readonly answerType: infer R } ? R : never;

/**
 * Joins policies into one, **outermost first**: `compose(fallback, timeout, retry, breaker, bulkhead)` runs
 * the fallback around a total timeout around the retries, each attempt going through the breaker and the
 * bulkhead. Stages are flattened, so the composed policy costs no more than its parts; the policies keep
 * their state (a breaker shared by two compositions is one breaker).
 */
export function compose<P extends Array<Pipeline<unknown>>>(...policies: P): Pipeline<AnswerOf<P[number]>> {
  const stages: Stage[] = [];
  for (const p of policies) stages.push(...p.stages);
  return new Pipeline<AnswerOf<P[number]>>(stages);
}

/** A policy that does nothing but run the function (a default, or a stand-in in tests). */
export const noop: Pipeline = new Pipeline([]);
