import type { ChaosKind } from '@nova/chaos-spec';
import { UnknownFaultError } from '../errors.ts';
import type { AnyFaultDriver } from '../drivers/driver.ts';
import { dnsFault } from '../drivers/dns.ts';
import { httpAbort, httpDelay, httpError, httpRewrite } from '../drivers/http.ts';
import { ioDelay, ioFault } from '../drivers/io.ts';
import {
  netBandwidth,
  netCorrupt,
  netDelay,
  netDuplicate,
  netError,
  netPartition,
  netReset,
} from '../drivers/network.ts';
import { cpuStress, memoryStress } from '../drivers/stress.ts';
import { timeOffset } from '../drivers/time.ts';
import {
  parseBandwidth,
  parseContainerStress,
  parseEmptySpec,
  parseKillSpec,
  parseNetem,
  parsePartition,
  parseRandomShare,
} from './agent-specs.ts';

/**
 * Where a fault acts: inside the service (`in-process`, applied by `@nova/faults` in the target), on its
 * process (signals), its container (Docker) or its network namespace (kernel) — the last three applied by
 * the chaos agent.
 */
export type FaultLayer = 'in-process' | 'process' | 'container' | 'kernel';

/**
 * A Chaos Mesh source of a fault kind: `Kind/action` (`NetworkChaos/delay`), `StressChaos/<stressor>`,
 * `HTTPChaos/<field>` (abort, delay, replace, patch), or the bare kind where it has no action (`TimeChaos`).
 */
export type ChaosMeshSource = ChaosKind | `${ChaosKind}/${string}`;

/** One fault kind: what it is called, where it acts, which Chaos Mesh actions become it, and its spec. */
export interface FaultKindEntry<Spec = unknown, Layer extends FaultLayer = FaultLayer> {
  readonly kind: string;
  readonly layer: Layer;
  /** One line for `--help`, `ListKinds` and errors. */
  readonly description: string;
  /** The Chaos Mesh actions the controller may turn into this kind (which one depends on the environment). */
  readonly chaosMesh: readonly ChaosMeshSource[];
  /** Checks a spec; throws a {@link FaultSpecError} naming the field and the valid range. */
  parse(spec: unknown): Spec;
}

function inProcess<D extends AnyFaultDriver>(
  driver: D,
  chaosMesh: readonly ChaosMeshSource[],
): Omit<FaultKindEntry<ReturnType<D['parse']>, 'in-process'>, 'kind'> & { driverKind: string } {
  return {
    driverKind: driver.kind,
    layer: 'in-process',
    description: driver.description,
    chaosMesh,
    parse: (spec) => driver.parse(spec) as ReturnType<D['parse']>,
  };
}

function byAgent<Spec, L extends Exclude<FaultLayer, 'in-process'>>(
  layer: L,
  description: string,
  chaosMesh: readonly ChaosMeshSource[],
  parse: (spec: unknown) => Spec,
): Omit<FaultKindEntry<Spec, L>, 'kind'> {
  return { layer, description, chaosMesh, parse };
}

type Entries = Record<string, Omit<FaultKindEntry<unknown>, 'kind'> & { driverKind?: string }>;

/** Names each entry by its key; an in-process driver filed under another kind's name throws. */
function named<T extends Entries>(entries: T): { readonly [K in keyof T]: T[K] & { readonly kind: K & string } } {
  const out: Record<string, unknown> = {};
  for (const [kind, entry] of Object.entries(entries)) {
    if (entry.driverKind !== undefined && entry.driverKind !== kind)
      throw new Error(`fault catalogue: driver "${entry.driverKind}" is filed as "${kind}"`);
    out[kind] = { ...entry, kind };
  }
  return out as { readonly [K in keyof T]: T[K] & { readonly kind: K & string } };
}

/**
 * Every fault kind, once. The controller turns Chaos Mesh actions into these kinds (tools/chaos plan/) and
 * checks each planned spec here; the agent's drivers take their layer, description and spec from here and
 * add how to apply them; the services apply the in-process ones. Adding a kind touches one driver file, one
 * entry here, and the planner of its Chaos Mesh action (docs/architecture.md).
 */
export const FAULT_CATALOGUE = named({
  // In-process: applied inside the service by @nova/faults (HTTP, outbound calls, fs, clocks, DNS, stress).
  'http-delay': inProcess(httpDelay, ['NetworkChaos/delay', 'HTTPChaos/delay']),
  'http-abort': inProcess(httpAbort, ['NetworkChaos/loss', 'HTTPChaos/abort']),
  'http-error': inProcess(httpError, ['HTTPChaos/replace']),
  'http-rewrite': inProcess(httpRewrite, ['HTTPChaos/replace', 'HTTPChaos/patch']),
  'net-delay': inProcess(netDelay, ['NetworkChaos/delay']),
  'net-error': inProcess(netError, []),
  'net-reset': inProcess(netReset, ['NetworkChaos/loss']),
  'net-partition': inProcess(netPartition, ['NetworkChaos/partition']),
  'net-bandwidth': inProcess(netBandwidth, ['NetworkChaos/bandwidth']),
  'net-corrupt': inProcess(netCorrupt, ['NetworkChaos/corrupt']),
  'net-duplicate': inProcess(netDuplicate, ['NetworkChaos/duplicate']),
  'cpu-stress': inProcess(cpuStress, ['StressChaos/cpu']),
  'memory-stress': inProcess(memoryStress, ['StressChaos/memory']),
  'io-delay': inProcess(ioDelay, ['IOChaos/latency']),
  'io-fault': inProcess(ioFault, ['IOChaos/fault']),
  'time-offset': inProcess(timeOffset, ['TimeChaos']),
  'dns-fault': inProcess(dnsFault, ['DNSChaos/error', 'DNSChaos/random']),
  // Process: the agent signals the target's verified pid (local environment).
  'process-kill': byAgent(
    'process',
    'kill the target process (signal, gracePeriodMs)',
    ['PodChaos/pod-kill', 'PodChaos/container-kill'],
    (spec) => parseKillSpec('process-kill', spec),
  ),
  'process-failure': byAgent(
    'process',
    'hold the target process stopped for the duration (SIGSTOP, then SIGCONT)',
    ['PodChaos/pod-failure'],
    (spec) => parseEmptySpec('process-failure', spec),
  ),
  // Container: the agent acts on the target's Docker container (containers environment).
  'container-kill': byAgent(
    'container',
    'kill the target container (signal, gracePeriodMs), via docker kill',
    ['PodChaos/pod-kill', 'PodChaos/container-kill'],
    (spec) => parseKillSpec('container-kill', spec),
  ),
  'container-pause': byAgent(
    'container',
    'freeze the target container for the duration (docker pause, then unpause)',
    ['PodChaos/pod-failure'],
    (spec) => parseEmptySpec('container-pause', spec),
  ),
  'container-stress': byAgent(
    'container',
    'squeeze the target container: cpu limit lowered by workers × load %, memory limit lowered by memoryBytes (docker update)',
    ['StressChaos/cpu'],
    parseContainerStress,
  ),
  // Kernel: rules and qdiscs in the target container's network namespace.
  'kernel-partition': byAgent(
    'kernel',
    'drop packets to/from peer containers in the target container (nft)',
    ['NetworkChaos/partition'],
    parsePartition,
  ),
  'kernel-loss': byAgent(
    'kernel',
    'drop a random share of packets in the target container (iptables statistic)',
    ['NetworkChaos/loss'],
    (spec) => parseRandomShare('kernel-loss', spec, { peersRequired: false }),
  ),
  'kernel-duplicate': byAgent(
    'kernel',
    'duplicate a random share of packets sent to peer containers (iptables TEE)',
    ['NetworkChaos/duplicate'],
    (spec) => parseRandomShare('kernel-duplicate', spec, { peersRequired: true }),
  ),
  'kernel-bandwidth': byAgent(
    'kernel',
    'limit the target container egress rate (tc tbf)',
    ['NetworkChaos/bandwidth'],
    parseBandwidth,
  ),
  'kernel-netem': byAgent(
    'kernel',
    'netem on the target container egress (delay, jitter, correlation, loss, corrupt)',
    ['NetworkChaos/delay', 'NetworkChaos/loss', 'NetworkChaos/corrupt'],
    parseNetem,
  ),
});

/** The name of a catalogued fault kind. */
export type FaultKindName = keyof typeof FAULT_CATALOGUE;

/** The parsed spec of kind `K`. */
export type SpecOf<K extends FaultKindName> = ReturnType<(typeof FAULT_CATALOGUE)[K]['parse']>;

const ENTRIES: ReadonlyMap<string, FaultKindEntry> = new Map(
  Object.values(FAULT_CATALOGUE).map((e: FaultKindEntry) => [e.kind, e]),
);

/** Every catalogued kind, in catalogue order. */
export const FAULT_KIND_NAMES: readonly string[] = [...ENTRIES.keys()];

/** The entry of `kind`; throws {@link UnknownFaultError} naming every catalogued kind. */
export function faultKind(kind: string): FaultKindEntry {
  const entry = ENTRIES.get(kind);
  if (!entry) throw new UnknownFaultError(kind, FAULT_KIND_NAMES);
  return entry;
}

/** The entry of `kind`, or undefined when it is not catalogued (a test's own driver). */
export function findFaultKind(kind: string): FaultKindEntry | undefined {
  return ENTRIES.get(kind);
}

/** Checks `spec` against its kind: the parsed spec, or a FaultSpecError / UnknownFaultError naming what is wrong. */
export function parseFaultSpec(kind: string, spec: unknown): unknown {
  return faultKind(kind).parse(spec);
}

/** The kinds a Chaos Mesh action may become, in catalogue order (`NetworkChaos/delay` → http-delay, net-delay…). */
export function kindsFor(source: ChaosMeshSource): string[] {
  return [...ENTRIES.values()].filter((e) => e.chaosMesh.includes(source)).map((e) => e.kind);
}

/** The agent-side part of a kind's entry, for a driver to spread and add `apply` to. */
export function catalogued<K extends FaultKindName>(
  kind: K,
): Pick<(typeof FAULT_CATALOGUE)[K], 'kind' | 'layer' | 'description' | 'parse'> {
  const { layer, description, parse } = FAULT_CATALOGUE[kind];
  return { kind, layer, description, parse } as Pick<
    (typeof FAULT_CATALOGUE)[K],
    'kind' | 'layer' | 'description' | 'parse'
  >;
}

export * from './agent-specs.ts';
