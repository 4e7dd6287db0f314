import type { PlanContext } from './context.ts';

/**
 * PodChaos: pod-kill and container-kill signal the target's process (local) or container (containers);
 * pod-failure holds it down for the duration (SIGSTOP, or `docker pause`).
 */
export function planPod({ spec, layer, each }: PlanContext): void {
  const action = String(spec['action']);
  const grace = Number(spec['gracePeriod'] ?? 0);
  const containers = layer?.layer === 'container';
  const kill = containers ? 'container-kill' : 'process-kill';
  if (action === 'pod-kill') each(kill, { signal: grace === 0 ? 'SIGKILL' : 'SIGTERM', gracePeriodMs: grace * 1000 });
  else if (action === 'container-kill') each(kill, { signal: 'SIGKILL', gracePeriodMs: 0 });
  else each(containers ? 'container-pause' : 'process-failure', {});
}
