/** Error codes of the fault runtime; stable, never reused. */
export const FaultErrorCodes = {
  /** A fault's parameters are invalid; the message names the field and what is valid. */
  INVALID_SPEC: 'CHAOS_ERR_INVALID_SPEC',
  /** No driver for this kind. */
  UNKNOWN_FAULT: 'CHAOS_ERR_UNKNOWN_FAULT',
  /** The action exists in Chaos Mesh but no available layer can honour it. */
  UNSUPPORTED: 'CHAOS_ERR_UNSUPPORTED',
} as const;

/** Invalid fault parameters: names the field (`spec.latencyMs`) and what would be valid. */
export class FaultSpecError extends Error {
  readonly code = FaultErrorCodes.INVALID_SPEC;
  constructor(
    readonly kind: string,
    readonly field: string,
    message: string,
  ) {
    super(`${kind}: spec.${field} ${message}`);
    this.name = 'FaultSpecError';
  }
}

/** A kind no driver knows. */
export class UnknownFaultError extends Error {
  readonly code = FaultErrorCodes.UNKNOWN_FAULT;
  constructor(
    readonly kind: string,
    known: readonly string[],
  ) {
    super(`unknown fault kind "${kind}"; known kinds: ${known.join(', ')}`);
    this.name = 'UnknownFaultError';
  }
}

/** An action no layer can honour here: rejected, never ignored. */
export class UnsupportedFaultError extends Error {
  readonly code = FaultErrorCodes.UNSUPPORTED;
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFaultError';
  }
}
