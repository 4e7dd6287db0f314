import { UnknownFaultError } from '../errors.ts';
import type { AnyFaultDriver, FaultDriver } from './driver.ts';
import { httpAbort, httpDelay, httpError, httpRewrite } from './http.ts';
import { ioDelay, ioFault } from './io.ts';
import { netBandwidth, netCorrupt, netDelay, netDuplicate, netError, netPartition, netReset } from './network.ts';
import { cpuStress, memoryStress } from './stress.ts';
import { dnsFault } from './dns.ts';
import { timeOffset } from './time.ts';

/**
 * Every in-process fault kind, listed explicitly (no registration by side effect). Process-level kinds
 * (kill, failure) belong to the agent, not to the target process.
 */
export const IN_PROCESS_DRIVERS = [
  httpDelay,
  httpAbort,
  httpError,
  httpRewrite,
  netDelay,
  netError,
  netReset,
  netPartition,
  netBandwidth,
  netCorrupt,
  netDuplicate,
  cpuStress,
  memoryStress,
  ioDelay,
  ioFault,
  timeOffset,
  dnsFault,
] as const satisfies readonly AnyFaultDriver[];

/** The in-process kinds whose spec takes a `seed` for their random draws (see {@link FaultDriver.seeded}). */
export const SEEDED_KINDS: ReadonlySet<string> = new Set(
  IN_PROCESS_DRIVERS.filter((d: AnyFaultDriver) => d.seeded).map((d) => d.kind),
);

/** Looks drivers up by kind. */
export class DriverRegistry {
  private readonly byKind = new Map<string, FaultDriver<unknown>>();

  constructor(drivers: readonly AnyFaultDriver[]) {
    for (const d of drivers) {
      if (this.byKind.has(d.kind)) throw new Error(`fault driver "${d.kind}" is registered twice`);
      this.byKind.set(d.kind, d as unknown as FaultDriver<unknown>);
    }
  }

  /** The driver of `kind`; throws {@link UnknownFaultError} naming the known kinds. */
  get(kind: string): FaultDriver<unknown> {
    const d = this.byKind.get(kind);
    if (!d) throw new UnknownFaultError(kind, this.kinds);
    return d;
  }

  has(kind: string): boolean {
    return this.byKind.has(kind);
  }

  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** Every kind with its one-line description. */
  describe(): Array<{ kind: string; description: string }> {
    return [...this.byKind.values()].map((d) => ({ kind: d.kind, description: d.description }));
  }
}

export const defaultRegistry = new DriverRegistry(IN_PROCESS_DRIVERS);
export type { FaultDriver, Injection, FaultEnvironment } from './driver.ts';
