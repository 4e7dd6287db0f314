import { parseDuration, selectTargets, type ChaosKind, type SelectorSpec } from '@nova/chaos-spec';
import { FaultSpecError, parseFaultSpec } from '@nova/faults';
import { TARGET_LABELS, type Target } from '@nova/proto';
import { UnsupportedLocallyError, type ChaosPlanner, type Obj, type PlanLayer } from './chaos/context.ts';
import { planHttp } from './chaos/http.ts';
import { planIo } from './chaos/io.ts';
import { planNetwork } from './chaos/network.ts';
import { planPod } from './chaos/pod.ts';
import { planStress } from './chaos/stress.ts';
import { planDns, planTime } from './chaos/time-dns.ts';

export { parseRate, UnsupportedLocallyError, type PlanLayer } from './chaos/context.ts';

/** One fault to apply through the agent. */
export interface PlannedFault {
  target: Target;
  kind: string;
  spec: Record<string, unknown>;
}

/** What a chaos spec becomes locally: the blast radius and the agent-level faults. */
export interface ChaosPlan {
  kind: ChaosKind;
  /** Every target the selector matches (the blast radius before the mode picks). */
  matching: Target[];
  /** The targets the mode picked. */
  selected: Target[];
  faults: PlannedFault[];
  /** How long the fault lasts, in ms. */
  durationMs: number;
  /** How the environment honours the action where it differs from Chaos Mesh (printed by the runner). */
  notes: string[];
}

/**
 * The planner of each Chaos Mesh kind (plan/chaos/): which fault kinds of the catalogue (`FAULT_CATALOGUE`
 * in @nova/faults) its actions become, in each environment.
 */
const PLANNERS: Record<ChaosKind, ChaosPlanner> = {
  NetworkChaos: planNetwork,
  PodChaos: planPod,
  StressChaos: planStress,
  IOChaos: planIo,
  HTTPChaos: planHttp,
  TimeChaos: planTime,
  DNSChaos: planDns,
};

/**
 * Translates a validated chaos spec into faults on concrete targets (the fault-layer table of DESIGN.md).
 * `random` drives the mode's choices, so a seed replays the selection. Every planned spec is checked against
 * its kind in the fault catalogue here, so a translation the agent would refuse fails at plan time, before
 * anything is injected.
 */
export function planChaos(
  kind: ChaosKind,
  spec: Obj & SelectorSpec,
  targets: readonly Target[],
  random: () => number,
  ctx: {
    namespace: string;
    durationMs?: number;
    defaultDurationMs: number;
    dataDirOf: (t: Target) => string | undefined;
    layer?: PlanLayer;
  },
): ChaosPlan {
  const notes: string[] = [];
  const faults: PlannedFault[] = [];
  const { matching, selected } = selectTargets(spec, targets, random, ctx.namespace);
  const durationMs =
    ctx.durationMs ?? (typeof spec['duration'] === 'string' ? parseDuration(spec['duration'])! : ctx.defaultDurationMs);
  PLANNERS[kind]({
    spec,
    selected,
    layer: ctx.layer,
    dataDirOf: ctx.dataDirOf,
    otherSide() {
      const t = spec['target'] as (SelectorSpec & Obj) | undefined;
      return t ? selectTargets(t, targets, random, ctx.namespace).selected : [];
    },
    each(k, s, on = selected) {
      for (const target of on) faults.push({ target, kind: k, spec: s });
    },
    note: (text) => notes.push(text),
    containerOf(t) {
      const c = t.labels[TARGET_LABELS.container];
      if (!c)
        throw new UnsupportedLocallyError(
          `${t.name} registered without a ${TARGET_LABELS.container} label: it does not run in this environment's containers`,
        );
      return c;
    },
  });
  if (selected.length === 0) throw new UnsupportedLocallyError('the selector matches no registered service');
  for (const f of faults) checkPlanned(kind, f);
  return { kind, matching, selected, faults, durationMs, notes };
}

/** A planned spec its kind refuses is a translation defect: say which Chaos Mesh kind produced it. */
function checkPlanned(kind: ChaosKind, f: PlannedFault): void {
  try {
    parseFaultSpec(f.kind, f.spec);
  } catch (error) {
    if (!(error instanceof FaultSpecError)) throw error;
    const reason = error.message.slice(`${f.kind}: spec.${error.field} `.length);
    throw new FaultSpecError(f.kind, error.field, `${reason} (planned from a ${kind} for ${f.target.name})`);
  }
}
