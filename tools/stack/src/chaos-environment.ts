import { bearer, unary, type ChaosAgentClient, type FaultKind, type Target } from '@nova/proto';
import type { ServiceName } from './stack.ts';

/** One running service replica, as the harness sees it in any environment. */
export interface EnvironmentInstance {
  readonly service: ServiceName;
  readonly name: string;
  /** Base URL reachable from the controller. */
  readonly url: string;
  /** Is it running right now (not killed, not yet restarted)? */
  readonly running: boolean;
  /** Its PID on this host, when it is a local process. */
  readonly pid: number | undefined;
}

/**
 * What the harness needs of an environment (`local`, `containers`): the agent, the service replicas, their
 * registered targets, and which fault layer applies process- and network-level actions.
 */
export interface ChaosEnvironment {
  readonly name: 'local' | 'containers';
  /** The agent: `token` is the controllers' credential; `serviceToken` the services' (it may only register). */
  readonly agent: { address: string; token: string; serviceToken: string; client: ChaosAgentClient };
  readonly instances: readonly EnvironmentInstance[];
  urls(service: ServiceName): string[];
  /** The agent's registered targets. */
  targets(): Promise<Target[]>;
  /** The data volume of the service instance registered as `target`, as the service sees it. */
  dataDirOf(target: Target): string | undefined;
  /** `process`: signals and in-process network faults; `container`: Docker and kernel drivers. */
  readonly layer: 'process' | 'container';
  /**
   * The fault kinds the agent offers (its `ListKinds`, read once it is up): what the controller plans from.
   * `kernel-netem` is among them only where the kernel has netem (containers on such a kernel).
   */
  readonly kinds: readonly FaultKind[];
  stop(): Promise<void>;
}

/** The agent's registered targets, as the controller lists them. */
export function listTargets(client: ChaosAgentClient, token: string): () => Promise<Target[]> {
  const md = bearer(token);
  return async () => (await unary(client.listTargets.bind(client), {}, md)).targets;
}

/** The fault kinds the agent offers, with their layers (`ListKinds`). */
export async function listKinds(client: ChaosAgentClient, token: string): Promise<FaultKind[]> {
  return (await unary(client.listKinds.bind(client), {}, bearer(token))).kinds;
}

/** Does the agent offer kernel netem (so NetworkChaos delay and corrupt can go on the container interface)? */
export function offersNetem(kinds: readonly FaultKind[]): boolean {
  return kinds.some((k) => k.kind === 'kernel-netem');
}

/** Waits until `count` service instances have registered with the agent. */
export async function awaitRegistrations(
  targets: () => Promise<Target[]>,
  count: number,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await targets()).length < count) {
    if (Date.now() > deadline)
      throw new Error(`services did not register with the chaos agent within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
