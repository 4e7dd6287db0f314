/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delta-seconds or an HTTP date. Returns milliseconds to
 * wait (0 for a date in the past), or undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowEpochMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const trimmed = v.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowEpochMs);
}
