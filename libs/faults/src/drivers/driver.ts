import type { FaultEffect } from '../effect.ts';
import type { InboundRule, OutboundRule, RuleList } from '../rules.ts';

/** Undoes one injection (idempotent), and says what it did. */
export interface Injection {
  recover(): void | Promise<void>;
  /**
   * What the fault has done so far, measured where it acted; read while active and once more after
   * `recover`. A driver without it measures nothing, and a verdict on its fault is inconclusive.
   */
  effect?(): FaultEffect;
}

/** What a driver may act on inside the target process. */
export interface FaultEnvironment {
  readonly inbound: RuleList<InboundRule>;
  readonly outbound: RuleList<OutboundRule>;
}

/**
 * One fault kind: parses its spec (errors name the field) and applies it to this process, returning how to
 * undo it. A driver acts on one target; the runtime owns ids, leases and bookkeeping.
 */
export interface FaultDriver<Spec = unknown> {
  readonly kind: string;
  /** One line for `--help` and errors. */
  readonly description: string;
  /**
   * Its spec takes a `seed` that drives every random draw it makes (percent, jitter, correlation): the
   * controller passes one derived from the run's seed, so a run replays exactly.
   */
  readonly seeded?: boolean;
  parse(spec: unknown): Spec;
  apply(spec: Spec, env: FaultEnvironment, faultId: string): Injection | Promise<Injection>;
}

/** A driver that does nothing: a stand-in in tests. */
export const noopDriver: FaultDriver<unknown> = {
  kind: 'noop',
  description: 'does nothing (tests)',
  parse: (spec) => spec,
  apply: () => ({ recover: () => {}, effect: () => ({ took: true, summary: 'noop: nothing to do', figures: {} }) }),
};

/** A driver of any spec type, for lists and registries (a driver's spec type is both read and written). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFaultDriver = FaultDriver<any>;
