import { Pipeline, type Stage } from './policy.ts';

/**
 * Joins policies into one, **outermost first**: `compose(fallback, timeout, retry, breaker, bulkhead)` runs
 * the fallback around a total timeout around the retries, each attempt going through the breaker and the
 * bulkhead. Stages are flattened, so the composed policy costs no more than its parts; the policies keep
 * their state (a breaker shared by two compositions is one breaker).
 */
export function compose(...policies: Pipeline[]): Pipeline {
  const stages: Stage[] = [];
  for (const p of policies) stages.push(...p.stages);
  return new Pipeline(stages);
}

/** A policy that does nothing but run the function (a default, or a stand-in in tests). */
export const noop: Pipeline = new Pipeline([]);
