/**
 * Error codes of the controller's REST API: stable, never reused, sent as `code` in every error body beside the
 * human `error` message, so scripts branch on the code and people read the message.
 */
export const ApiErrorCodes = {
  /** The body, a parameter or a YAML document is invalid; the message names the field. */
  INVALID_REQUEST: 'API_ERR_INVALID_REQUEST',
  /** Missing or wrong credentials, or an expired session. */
  UNAUTHENTICATED: 'API_ERR_UNAUTHENTICATED',
  /** A browser mutation without the CSRF proof, or from a foreign origin. */
  CSRF: 'API_ERR_CSRF',
  /** Too many failed logins or unauthenticated requests from this address. */
  RATE_LIMITED: 'API_ERR_RATE_LIMITED',
  /** No such experiment, schedule, report or route. */
  NOT_FOUND: 'API_ERR_NOT_FOUND',
  /** The method is not allowed on this path. */
  METHOD_NOT_ALLOWED: 'API_ERR_METHOD_NOT_ALLOWED',
  /** The object is in a state that does not allow this (pausing a recovered experiment). */
  CONFLICT: 'API_ERR_CONFLICT',
  /** The experiment is valid but cannot run here: the safety policy or planning refused it. */
  UNPROCESSABLE: 'API_ERR_UNPROCESSABLE',
  /** The body is larger than the API accepts. */
  TOO_LARGE: 'API_ERR_TOO_LARGE',
  /** The body's content type is not JSON. */
  UNSUPPORTED_MEDIA_TYPE: 'API_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** A defect of ours; the message says nothing more (details are in the controller's log). */
  INTERNAL: 'API_ERR_INTERNAL',
} as const;

/** One of {@link ApiErrorCodes}. */
export type ApiErrorCode = (typeof ApiErrorCodes)[keyof typeof ApiErrorCodes];

const CODE_BY_STATUS: Record<number, ApiErrorCode> = {
  400: ApiErrorCodes.INVALID_REQUEST,
  401: ApiErrorCodes.UNAUTHENTICATED,
  403: ApiErrorCodes.CSRF,
  404: ApiErrorCodes.NOT_FOUND,
  405: ApiErrorCodes.METHOD_NOT_ALLOWED,
  409: ApiErrorCodes.CONFLICT,
  413: ApiErrorCodes.TOO_LARGE,
  415: ApiErrorCodes.UNSUPPORTED_MEDIA_TYPE,
  422: ApiErrorCodes.UNPROCESSABLE,
  429: ApiErrorCodes.RATE_LIMITED,
};

/** The code an answer of this HTTP status carries when nothing more specific was given. */
export function codeForStatus(status: number): ApiErrorCode {
  return CODE_BY_STATUS[status] ?? ApiErrorCodes.INTERNAL;
}

/** An answer other than success: its HTTP status, stable code, message and extra fields (`issues`). */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    code?: ApiErrorCode,
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code ?? codeForStatus(status);
  }
}
