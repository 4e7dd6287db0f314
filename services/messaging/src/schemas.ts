import { errorResponseSchema } from '@nova/service-kit';

/** A user id. */
const uuid = { type: 'string', format: 'uuid' } as const;
/** A stored message as answered. */
const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    text: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;

/** `POST /messages`: an `Idempotency-Key` header, the recipient and the text. */
export const sendSchema = {
  headers: {
    type: 'object',
    properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 128 } },
  },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['to', 'text'],
    properties: { to: uuid, text: { type: 'string', minLength: 1, maxLength: 2000 } },
  },
  response: {
    200: messageSchema,
    201: messageSchema,
    401: errorResponseSchema,
    404: errorResponseSchema,
    503: errorResponseSchema,
  },
} as const;

/** `GET /messages`: a conversation with `with`, a page at a time. */
export const conversationSchema = {
  querystring: {
    type: 'object',
    required: ['with'],
    additionalProperties: false,
    properties: {
      with: uuid,
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
      cursor: { type: 'string', maxLength: 200 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { messages: { type: 'array', items: messageSchema }, nextCursor: { type: 'string' } },
    },
    401: errorResponseSchema,
    503: errorResponseSchema,
  },
} as const;
