import { now } from './clock.ts';

/**
 * The header that carries the caller's remaining time budget, in whole milliseconds. It is relative (like
 * gRPC's `grpc-timeout`), so the clocks of the two hosts need not agree.
 */
export const DEADLINE_HEADER = 'x-request-deadline-ms';

/** gRPC's deadline header over HTTP/2: 1–8 digits and a unit (`H M S m u n`), e.g. `250m`. */
export const GRPC_TIMEOUT_HEADER = 'grpc-timeout';

/** The largest budget we accept from a caller, in ms (one hour): protects against absurd values. */
export const MAX_BUDGET_MS = 3_600_000;

/** Milliseconds per unit of `grpc-timeout`. */
const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

type Headers = Record<string, string | string[] | undefined>;

function first(raw: string | string[] | undefined): string | undefined {
  return Array.isArray(raw) ? raw[0] : raw;
}

/**
 * Server side: the caller's remaining budget in ms, from {@link DEADLINE_HEADER} or else
 * {@link GRPC_TIMEOUT_HEADER}, capped at {@link MAX_BUDGET_MS}. Undefined when neither is present or the
 * value is malformed (the caller set no deadline).
 */
export function budgetFromHeaders(headers: Headers): number | undefined {
  const ours = first(headers[DEADLINE_HEADER]);
  if (ours !== undefined) return /^\d{1,10}$/.test(ours) ? Math.min(Number(ours), MAX_BUDGET_MS) : undefined;
  const grpc = first(headers[GRPC_TIMEOUT_HEADER]);
  const m = grpc === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(grpc);
  if (m === null) return undefined;
  return Math.min(Number(m[1]) * GRPC_UNIT_MS[m[2]!]!, MAX_BUDGET_MS);
}

/**
 * Server side: reads the caller's remaining budget from request headers ({@link budgetFromHeaders}) and
 * returns it as an absolute deadline on the {@link now} clock, to pass as `execute(fn, { deadline })` or to
 * the HTTP client. Returns undefined when the caller set no deadline.
 */
export function deadlineFromHeaders(headers: Headers): number | undefined {
  const budget = budgetFromHeaders(headers);
  return budget === undefined ? undefined : now() + budget;
}

/** Client side: the header value for a deadline (remaining ms, at least 0), or undefined for none. */
export function deadlineHeaderValue(deadline: number): string | undefined {
  if (deadline === Infinity) return undefined;
  return String(Math.max(0, Math.floor(deadline - now())));
}
