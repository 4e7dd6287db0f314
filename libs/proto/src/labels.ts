/**
 * Docker labels on what the containers environment starts, defined once: the environment writes them, the
 * agent reads `target` before faulting a container, and the environment's guard and orphan sweep read `run`
 * and `controllerPid`.
 */
export const DOCKER_LABELS = {
  /** `true` on the containers the agent may fault; it touches no other container. */
  target: 'dev.nova.chaos/target',
  /** The run that started the container (its guard removes them by this). */
  run: 'dev.nova.chaos/run',
  /** The controller's pid: a container whose controller is gone is an orphan. */
  controllerPid: 'dev.nova.chaos/controller-pid',
} as const;

/** Labels a target registers with (the selector labels of Chaos Mesh experiments), defined once. */
export const TARGET_LABELS = {
  /** The container a target runs in (containers environment): where Docker and kernel faults go. */
  container: 'nova.dev/container',
  /** Chaos Mesh's opt-in: the safety policy refuses targets without `chaos.mesh/safe: "true"`. */
  safe: 'chaos.mesh/safe',
} as const;
