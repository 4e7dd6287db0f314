/**
 * JSON schemas of the REST API's bodies and answers: fastify validates each body against them (a 400 naming the
 * field otherwise), serializes answers through them, and @fastify/swagger publishes them as the OpenAPI
 * document at `/api/v1/openapi.json`.
 */

const str = { type: 'string' } as const;
const optionalTime = { type: ['string', 'null'] } as const;

/** Every error answer: the message for people, the stable code for scripts, and any details. */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: str,
    code: str,
    issues: { type: 'array', items: str },
    /** The stable code of the underlying error (`CHAOS_ERR_*`, `AGENT_ERR_*`), when the answer has one. */
    cause: str,
  },
} as const;

/** An experiment started through the API (see `ApiExperiment`). */
export const experimentSchema = {
  $id: 'Experiment',
  type: 'object',
  required: ['id', 'name', 'kind', 'phase', 'faults', 'targets'],
  properties: {
    id: str,
    name: str,
    kind: str,
    phase: { type: 'string', enum: ['scheduled', 'injected', 'paused', 'recovered', 'failed'] },
    startedAt: optionalTime,
    endsAt: optionalTime,
    recoveredAt: optionalTime,
    schedule: str,
    faults: {
      type: 'array',
      items: { type: 'object', properties: { target: str, kind: str } },
    },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        properties: { target: str, phase: { type: 'string', enum: ['selected', 'injected', 'recovered'] } },
      },
    },
    effects: {
      type: 'array',
      items: {
        type: 'object',
        properties: { target: str, kind: str, took: { type: 'boolean' }, summary: str },
      },
    },
    error: str,
    errorCode: str,
  },
} as const;

/** A Schedule started through the API (see `ApiSchedule`). */
export const scheduleSchema = {
  $id: 'Schedule',
  type: 'object',
  required: ['name', 'schedule', 'type', 'state', 'children', 'next'],
  properties: {
    name: str,
    schedule: str,
    type: str,
    concurrencyPolicy: str,
    state: { type: 'string', enum: ['running', 'paused', 'stopped'] },
    startedAt: str,
    children: {
      type: 'array',
      items: { type: 'object', properties: { name: str, experimentId: str, phase: str } },
    },
    next: { type: 'array', items: str },
    events: { type: 'array', items: str },
  },
} as const;

/** `POST /api/v1/experiments` and `POST /api/v1/schedules`: one object, by name from the suite or as YAML. */
export const startBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, description: 'an object of the suite, by name' },
    yaml: { type: 'string', minLength: 1, maxLength: 200_000, description: 'one Chaos Mesh object as YAML' },
    startInSeconds: { type: 'number', minimum: 0, maximum: 3600, description: 'inject this long from now' },
  },
} as const;

/** `POST /api/v1/session`: a dashboard user's password, or the API token. */
export const loginBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 128 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    token: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

/** `POST /api/v1/schedules/preview`. */
export const previewBody = {
  type: 'object',
  additionalProperties: false,
  required: ['schedule'],
  properties: { schedule: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

/** Path parameters naming an experiment or a Schedule. */
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$' } },
} as const;

/** The answers every authenticated route may give besides its success. */
export const errorAnswers = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
  409: { $ref: 'Error#' },
  422: { $ref: 'Error#' },
  429: { $ref: 'Error#' },
} as const;

/** An open object: the answer's documented fields, and whatever else it carries. */
export function openObject(properties: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', additionalProperties: true, properties };
}
