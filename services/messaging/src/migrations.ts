import type { Migration } from '@nova/service-kit';

/** The messaging service's schema, in order. Never edit an applied migration: add one. */
export const migrations: Migration[] = [
  {
    id: '001-messages',
    sql: `
      CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        sender_id uuid NOT NULL,
        recipient_id uuid NOT NULL,
        body text NOT NULL,
        idempotency_key text,
        -- Millisecond precision, so the API's ISO timestamps (and the page cursor) are exact.
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp())
      );
      -- A retried send with the same key stores one message.
      CREATE UNIQUE INDEX messages_idempotency ON messages (sender_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      -- A conversation, newest first, whichever side sent.
      CREATE INDEX messages_conversation ON messages
        (LEAST(sender_id, recipient_id), GREATEST(sender_id, recipient_id), created_at DESC, id DESC);`,
  },
];
