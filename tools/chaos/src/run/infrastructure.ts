/** A part of the environment no experiment targets died (and was restarted) at `atMs` (epoch ms). */
export interface EnvironmentDeath {
  instance: string;
  atMs: number;
}

/**
 * An experiment during which the environment's infrastructure died is an error, whatever its figures: they
 * measured the harness's crash, not the system's resilience to the fault.
 */
export function infrastructureError<R extends { verdict: string; reason?: string }>(
  result: R,
  deaths: readonly EnvironmentDeath[],
  fromMs: number,
): R {
  const during = [...new Set(deaths.filter((d) => d.atMs >= fromMs).map((d) => d.instance))];
  if (during.length === 0 || result.verdict === 'skipped') return result;
  return {
    ...result,
    verdict: 'error',
    reason: `${during.join(' and ')} died during the experiment (restarted by the supervisor): its figures measured that, not the fault`,
  };
}
