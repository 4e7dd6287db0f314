import { availableParallelism } from 'node:os';
import { defaultRegistry, findFaultKind, UnknownFaultError, type DriverRegistry } from '@nova/faults';
import type { FaultKind } from '@nova/proto';
import type { Logger } from 'pino';
import { ContainerJournal, containerKill, containerPause, containerStress } from './container.ts';
import { kernelDuplicate, kernelLoss, kernelPartition } from './kernel.ts';
import { kernelBandwidth, kernelNetem, probeNetem } from './kernel-tc.ts';
import { removeLeftovers } from './netns.ts';
import { FailureJournal } from './failure-journal.ts';
import { processFailure, processKill, type ProcessDriver } from './process.ts';

/**
 * Any of the agent's drivers, whatever its spec type. A driver's `apply` takes the spec its own `parse`
 * returned, so the registry never mixes one driver's spec with another's; `any` only erases that pairing
 * (`ProcessDriver<unknown>` would not accept a driver whose `apply` needs a specific spec).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProcessDriver = ProcessDriver<any>;

/**
 * The fault kinds one agent offers: its own drivers (process, container, kernel) by kind, and the
 * in-process kinds it delegates to the services. A kind is registered once: a second driver for it throws,
 * so two layers can never both claim a Chaos Mesh action.
 */
export class AgentDrivers {
  private readonly byKind = new Map<string, ProcessDriver<unknown>>();

  constructor(
    drivers: readonly AnyProcessDriver[],
    /** The in-process kinds, which the services apply (the agent parses their specs to refuse bad ones early). */
    readonly inProcess: DriverRegistry = defaultRegistry,
  ) {
    for (const d of drivers) {
      if (this.byKind.has(d.kind) || inProcess.has(d.kind))
        throw new Error(`fault driver "${d.kind}" is registered twice`);
      const layer = findFaultKind(d.kind)?.layer;
      if (layer !== undefined && layer !== d.layer)
        throw new Error(`fault driver "${d.kind}" acts at the ${d.layer} layer; the fault catalogue says ${layer}`);
      this.byKind.set(d.kind, d as ProcessDriver<unknown>);
    }
  }

  /** The agent's own driver of `kind`, or undefined when the kind is one the service applies in-process. */
  own(kind: string): ProcessDriver<unknown> | undefined {
    return this.byKind.get(kind);
  }

  /** Throws {@link UnknownFaultError} naming every kind this agent offers, unless `kind` is one of them. */
  check(kind: string): void {
    if (!this.byKind.has(kind) && !this.inProcess.has(kind)) throw new UnknownFaultError(kind, this.kinds);
  }

  /** Parses a spec with its kind's driver; throws {@link UnknownFaultError} or the driver's spec error. */
  parse(kind: string, spec: unknown): unknown {
    this.check(kind);
    return (this.byKind.get(kind) ?? this.inProcess.get(kind)).parse(spec);
  }

  /** Every kind: in-process first, then the agent's own. */
  get kinds(): string[] {
    return this.list().map((k) => k.kind);
  }

  /** What `ListKinds` answers: each kind with its layer, description and whether it holds its target down. */
  list(): FaultKind[] {
    return [
      ...this.inProcess.describe().map((d) => ({ ...d, layer: 'in-process', holdsTarget: false })),
      ...[...this.byKind.values()].map((d) => ({
        kind: d.kind,
        layer: d.layer,
        description: d.description,
        holdsTarget: d.holdsTarget === true,
      })),
    ];
  }
}

/** Options of {@link agentDrivers}. */
export interface AgentDriversOptions {
  /** Offer the Docker (container) and kernel drivers: root and a Docker engine. */
  docker?: boolean;
  /** Where the journals of stopped processes and Docker-level changes live. */
  stateDir?: string;
  log: Logger;
}

/**
 * The agent's drivers, in one list: the process drivers always; with `docker`, the container and kernel
 * drivers (kernel-netem only where the kernel has netem). Every kind here is in `FAULT_CATALOGUE`, which
 * gives each its layer, description and spec (drivers/catalogue.test.ts checks the two agree).
 */
export function driverList(parts: {
  failures: FailureJournal;
  docker?: { journal: ContainerJournal; hostCpus: number; netem: boolean };
}): AnyProcessDriver[] {
  const drivers: AnyProcessDriver[] = [processKill, processFailure(parts.failures)];
  const docker = parts.docker;
  if (!docker) return drivers;
  drivers.push(
    containerKill,
    containerPause(docker.journal),
    containerStress(docker.journal, docker.hostCpus),
    kernelPartition,
    kernelLoss,
    kernelDuplicate,
    kernelBandwidth,
  );
  if (docker.netem) drivers.push(kernelNetem);
  return drivers;
}

/**
 * The drivers an agent registers ({@link driverList}), after undoing what a previous run left (processes it
 * stopped; with Docker, journalled pauses and limits, then every tagged kernel rule). netem is offered only
 * where the kernel has it, so a controller that asks `ListKinds` knows where NetworkChaos delay can go.
 */
export async function agentDrivers(options: AgentDriversOptions): Promise<AgentDrivers> {
  const { log } = options;
  const failures = new FailureJournal(options.stateDir);
  const resumed = await failures.resumeLeftovers();
  if (resumed.length > 0) log.warn({ pids: resumed }, 'resumed processes a previous agent run left stopped');
  if (!options.docker) return new AgentDrivers(driverList({ failures }));
  const journal = new ContainerJournal(options.stateDir);
  const reverted = await journal.revertLeftovers();
  if (reverted.length > 0) log.warn({ reverted }, 'reverted Docker-level faults a previous agent run left');
  const cleaned = await removeLeftovers();
  if (cleaned.length > 0) log.warn({ cleaned }, 'removed kernel rules a previous agent run left');
  const netem = await probeNetem();
  log.info({ netem: netem.available, detail: netem.detail }, 'kernel driver ready');
  const drivers = driverList({
    failures,
    docker: { journal, hostCpus: availableParallelism(), netem: netem.available },
  });
  return new AgentDrivers(drivers);
}
