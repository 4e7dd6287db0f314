/** An error a route throws to answer with a given status, message and headers. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** A stable error code for the answer's `code` field (e.g. `RES_ERR_BULKHEAD_FULL`). */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 503 with `Retry-After` (seconds): the service is degraded, the caller may retry later. */
export function unavailable(message: string, retryAfterSeconds: number, code?: string): HttpError {
  return new HttpError(503, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) }, code);
}

/**
 * The JSON schema of every error answer (`{"error": "...", "field": "body.email"}`, with a stable `code` where
 * one applies), for route `response` maps.
 */
export const errorResponseSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, field: { type: 'string' }, code: { type: 'string' } },
} as const;
