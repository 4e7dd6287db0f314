import { FaultSpecError } from '../errors.ts';
import { SpecReader } from '../spec.ts';

// The specs of the kinds the chaos agent applies itself (process, container and kernel layers). They live
// here, beside the in-process kinds, so the controller can check a planned fault before it reaches an agent
// and the agent's drivers only add how to apply them (chaos-agent/src/drivers).

const SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT'] as const;

/** The spec of a kill: the first signal, and how long before SIGKILL follows. */
export interface KillSpec {
  signal: (typeof SIGNALS)[number];
  /** How long after `signal` SIGKILL follows if the process still runs, in ms. */
  gracePeriodMs: number;
}

/** Reads a {@link KillSpec} (SIGTERM and 5 s by default). */
export function parseKillSpec(kind: string, spec: unknown): KillSpec {
  const r = new SpecReader(kind, spec);
  r.only('signal', 'gracePeriodMs');
  return {
    signal: r.string('signal', { default: 'SIGTERM', oneOf: SIGNALS }) as KillSpec['signal'],
    gracePeriodMs: r.number('gracePeriodMs', { min: 0, max: 600_000, default: 5_000, integer: true }),
  };
}

/** A kind that takes no fields (its duration is the lease). */
export type EmptySpec = Record<string, never>;

/** Reads an {@link EmptySpec}: any field is an error naming the kind. */
export function parseEmptySpec(kind: string, spec: unknown): EmptySpec {
  new SpecReader(kind, spec).only();
  return {};
}

/** Docker-level stress: CPU taken away as `workers × load %` of a CPU, and memory taken away, in bytes. */
export interface ContainerStressSpec {
  workers: number;
  /** Percent of a CPU each worker takes. */
  load: number;
  /** Bytes the memory limit is lowered by; absent when only CPU is squeezed. */
  memoryBytes?: number;
}

/** Reads a {@link ContainerStressSpec} (one worker at 100 % by default). */
export function parseContainerStress(spec: unknown): ContainerStressSpec {
  const r = new SpecReader('container-stress', spec);
  r.only('workers', 'load', 'memoryBytes');
  const memoryBytes = r.number('memoryBytes', { min: 0, max: 2 ** 48, default: 0, integer: true });
  return {
    workers: r.number('workers', { min: 0, max: 64, default: 1, integer: true }),
    load: r.number('load', { min: 0, max: 100, default: 100 }),
    ...(memoryBytes > 0 ? { memoryBytes } : {}),
  };
}

const DIRECTIONS = ['to', 'from', 'both'] as const;
/** Which traffic a kernel network fault acts on, as Chaos Mesh's `direction`. */
export type Direction = (typeof DIRECTIONS)[number];

/** A kernel network fault's direction and peer containers (names or ids; empty: every peer). */
export interface NetSpec {
  direction: Direction;
  peers: string[];
}

function readNet(r: SpecReader, opts: { peersRequired: boolean }): NetSpec {
  const peers = r.strings('peers') ?? [];
  if (opts.peersRequired && peers.length === 0)
    throw new FaultSpecError(r.kind, 'peers', 'must name at least one peer container');
  return { direction: r.string('direction', { default: 'to', oneOf: DIRECTIONS }) as Direction, peers };
}

/** Reads a partition's {@link NetSpec} (peers required: a partition is between two sides). */
export function parsePartition(spec: unknown): NetSpec {
  const r = new SpecReader('kernel-partition', spec);
  r.only('direction', 'peers');
  return readNet(r, { peersRequired: true });
}

/** A {@link NetSpec} acting on a random share of the packets. */
export interface RandomShareSpec extends NetSpec {
  /** Share of the packets, 0–100. */
  percent: number;
}

/** Reads a {@link RandomShareSpec}; `peersRequired` for faults that need somewhere to send copies. */
export function parseRandomShare(kind: string, spec: unknown, opts: { peersRequired: boolean }): RandomShareSpec {
  const r = new SpecReader(kind, spec);
  r.only('direction', 'peers', 'percent');
  return { ...readNet(r, opts), percent: r.number('percent', { min: 0, max: 100 }) };
}

/** A token bucket on a container's egress (tc tbf). */
export interface BandwidthSpec {
  bytesPerSecond: number;
  /** Bytes that may wait in the queue. */
  limitBytes: number;
  /** Bucket size in bytes (at least one MTU-sized packet). */
  bufferBytes: number;
}

/** Reads a {@link BandwidthSpec}. */
export function parseBandwidth(spec: unknown): BandwidthSpec {
  const r = new SpecReader('kernel-bandwidth', spec);
  r.only('bytesPerSecond', 'limitBytes', 'bufferBytes');
  return {
    bytesPerSecond: r.number('bytesPerSecond', { min: 1, max: 1e11 }),
    limitBytes: r.number('limitBytes', { min: 1, max: 2 ** 31, default: 20_000, integer: true }),
    // At least one MTU-sized packet, or nothing ever leaves.
    bufferBytes: Math.max(r.number('bufferBytes', { min: 1, max: 2 ** 31, default: 10_000, integer: true }), 1_600),
  };
}

/** netem on a container's egress: each part is off at 0. */
export interface NetemSpec {
  delayMs: number;
  jitterMs: number;
  /** Percent correlation of each delay with the previous one. */
  correlation: number;
  lossPercent: number;
  corruptPercent: number;
}

/** Reads a {@link NetemSpec}. */
export function parseNetem(spec: unknown): NetemSpec {
  const r = new SpecReader('kernel-netem', spec);
  r.only('delayMs', 'jitterMs', 'correlation', 'lossPercent', 'corruptPercent');
  return {
    delayMs: r.number('delayMs', { min: 0, max: 600_000, default: 0 }),
    jitterMs: r.number('jitterMs', { min: 0, max: 600_000, default: 0 }),
    correlation: r.number('correlation', { min: 0, max: 100, default: 0 }),
    lossPercent: r.number('lossPercent', { min: 0, max: 100, default: 0 }),
    corruptPercent: r.number('corruptPercent', { min: 0, max: 100, default: 0 }),
  };
}
