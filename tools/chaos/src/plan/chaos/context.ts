import { parseDuration, parseRate as parseChaosMeshRate, type SelectorSpec } from '@nova/chaos-spec';
import { UnsupportedFaultError } from '@nova/faults';
import type { Target } from '@nova/proto';

/**
 * A valid Chaos Mesh action this environment cannot honour: refused before anything is injected. The fault
 * runtime's {@link UnsupportedFaultError}, so one code (`CHAOS_ERR_UNSUPPORTED`) means one thing everywhere.
 */
export class UnsupportedLocallyError extends UnsupportedFaultError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedLocallyError';
  }
}

/** Where process- and network-level actions go: signals and in-process faults, or Docker and the kernel. */
export interface PlanLayer {
  layer: 'process' | 'container';
  /** The kernel has netem (containers): delay/corrupt go there; else delay is in-process. */
  netem: boolean;
}

/** A Chaos Mesh spec as parsed YAML (validated against the CRD schema and webhook rules before planning). */
export type Obj = Record<string, unknown>;

/**
 * What one Chaos Mesh kind's planner sees: the spec, the targets its selector picked, and where to put the
 * faults it plans. A planner only translates; selection, duration and the catalogue check are the caller's.
 */
export interface PlanContext {
  spec: Obj & SelectorSpec;
  /** The targets the selector and mode picked. */
  selected: readonly Target[];
  /** The targets `spec.target` selects (NetworkChaos's other side), or none. */
  otherSide(): Target[];
  /** Set in the containers environment: the agent acts on Docker and the kernel. */
  layer?: PlanLayer;
  /** Plans fault `kind` with `spec` on each of `on` (the selected targets by default). */
  each(kind: string, spec: Obj, on?: readonly Target[]): void;
  /** Says how the environment honours the action where it differs from Chaos Mesh (printed by the runner). */
  note(text: string): void;
  /** The container a target runs in (containers environment); refuses a target that has none. */
  containerOf(t: Target): string;
  /** The data volume of a target in this environment (IOChaos's `volumePath`). */
  dataDirOf(t: Target): string | undefined;
}

/** A planner of one Chaos Mesh kind. */
export type ChaosPlanner = (ctx: PlanContext) => void;

/** A Chaos Mesh duration field in ms (validated upstream; absent is 0). */
export function ms(v: unknown): number {
  return parseDuration(String(v)) ?? 0;
}

/** A bandwidth rate in bytes per second, by Chaos Mesh's own rule (validated before we get here). */
export function parseRate(rate: string): number {
  const r = parseChaosMeshRate(rate);
  if (!r.ok) throw new UnsupportedLocallyError(`bandwidth.rate ${r.reason}`);
  return r.value;
}
