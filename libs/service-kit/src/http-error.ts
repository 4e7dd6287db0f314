/** An error a route throws to answer with a given status, message and headers. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 503 with `Retry-After` (seconds): the service is degraded, the caller may retry later. */
export function unavailable(message: string, retryAfterSeconds: number): HttpError {
  return new HttpError(503, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
}

/** The JSON schema of every error answer (`{"error": "...", "field": "body.email"}`), for route `response` maps. */
export const errorResponseSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, field: { type: 'string' } },
} as const;
