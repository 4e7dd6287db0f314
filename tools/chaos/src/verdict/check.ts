/** One steady-state check and what was measured. */
export interface Check {
  name: string;
  ok: boolean;
  /** What was measured, e.g. "0.4 % (3/812)". */
  measured: string;
  /** The hypothesis, e.g. "<= 1 %". */
  expected: string;
  /**
   * An evidence check (did the fault take effect at its target), not a hypothesis about the system: when
   * only these fail, the verdict is inconclusive rather than a failure.
   */
  evidence?: boolean;
}

/** The phases of one experiment on the run's clock (ms). */
export interface Phases {
  baselineStart: number;
  faultStart: number;
  faultEnd: number;
  /** When the system was steady again, if it was. */
  recoveredAt: number | undefined;
}
