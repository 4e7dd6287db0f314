import { now } from './clock.ts';

/**
 * The header that carries the caller's remaining time budget, in whole milliseconds. It is relative (like
 * gRPC's `grpc-timeout`), so the clocks of the two hosts need not agree.
 */
export const DEADLINE_HEADER = 'x-request-deadline-ms';

/** The largest budget we accept from a caller, in ms (one hour): protects against absurd values. */
const MAX_BUDGET_MS = 3_600_000;

/**
 * Server side: reads the caller's remaining budget from request headers and returns it as an absolute
 * deadline on the {@link now} clock, to pass as `execute(fn, { deadline })` or to the HTTP client. Returns
 * undefined when the header is absent or malformed (the caller set no deadline).
 */
export function deadlineFromHeaders(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = headers[DEADLINE_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  return now() + Math.min(Number(value), MAX_BUDGET_MS);
}

/** Client side: the header value for a deadline (remaining ms, at least 0), or undefined for none. */
export function deadlineHeaderValue(deadline: number): string | undefined {
  if (deadline === Infinity) return undefined;
  return String(Math.max(0, Math.floor(deadline - now())));
}
