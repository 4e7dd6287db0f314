/**
 * Error codes of the agent's API: stable, never reused, sent in the `nova-error-code` trailer of every failed
 * call (`ERROR_CODE_METADATA` of `@nova/proto`) beside the gRPC status and message. A spec the fault runtime
 * refuses keeps the runtime's own code (`CHAOS_ERR_INVALID_SPEC`, `CHAOS_ERR_UNKNOWN_FAULT`).
 */
export const AgentErrorCodes = {
  /** A required field is missing or malformed (experiment_uid, target_id, spec_json); the message names it. */
  INVALID_REQUEST: 'AGENT_ERR_INVALID_REQUEST',
  /** lease_ms is missing, not positive, or above the agent's longest lease. */
  LEASE: 'AGENT_ERR_LEASE',
  /** No registered target with that id (see ListTargets). */
  TARGET_NOT_FOUND: 'AGENT_ERR_TARGET_NOT_FOUND',
  /** The target's namespace is not in the agent's allowed namespaces. */
  NAMESPACE_DENIED: 'AGENT_ERR_NAMESPACE_DENIED',
  /** The fault could not be applied (the service did not acknowledge, the driver failed); nothing stays applied. */
  APPLY_FAILED: 'AGENT_ERR_APPLY_FAILED',
  /** Missing or wrong bearer token for this method's role. */
  UNAUTHENTICATED: 'AGENT_ERR_UNAUTHENTICATED',
  /** A defect of ours; the agent's log has the details. */
  INTERNAL: 'AGENT_ERR_INTERNAL',
} as const;

/** One of {@link AgentErrorCodes}, or a fault runtime code carried through. */
export type AgentErrorCode = (typeof AgentErrorCodes)[keyof typeof AgentErrorCodes] | `CHAOS_ERR_${string}`;

/** The gRPC statuses the agent answers with. */
export type AgentStatus =
  'INVALID_ARGUMENT' | 'NOT_FOUND' | 'PERMISSION_DENIED' | 'FAILED_PRECONDITION' | 'UNAVAILABLE';

/** A refused or failed call: the gRPC status it maps to and its stable code. */
export class AgentError extends Error {
  constructor(
    readonly status: AgentStatus,
    readonly code: AgentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
