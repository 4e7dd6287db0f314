import type pg from 'pg';

/** A message as the API shows it. */
export interface Message {
  id: string;
  from: string;
  to: string;
  text: string;
  createdAt: string;
}

interface Row {
  id: string;
  sender_id: string;
  recipient_id: string;
  body: string;
  created_at: Date;
}

const toMessage = (r: Row): Message => ({
  id: r.id,
  from: r.sender_id,
  to: r.recipient_id,
  text: r.body,
  createdAt: r.created_at.toISOString(),
});

/** A page of a conversation and the cursor of the next (older) page. */
export interface Page {
  messages: Message[];
  nextCursor: string | undefined;
}

/** Opaque pagination cursor: the (created_at, id) of the last message shown. */
function encodeCursor(m: Row): string {
  return Buffer.from(`${m.created_at.toISOString()}|${m.id}`).toString('base64url');
}

/** Decodes a cursor; undefined when it is not one of ours. */
export function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) return undefined;
  return { createdAt, id };
}

/** Messages in PostgreSQL (schema `messaging`). */
export class MessageRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Stores a message. With an idempotency key, a second send with the same key returns the first message
   * (`created: false`) and stores nothing.
   */
  async send(
    from: string,
    to: string,
    text: string,
    idempotencyKey: string | undefined,
  ): Promise<{ message: Message; created: boolean }> {
    const { rows } = await this.pool.query<Row>(
      `INSERT INTO messaging.messages (sender_id, recipient_id, body, idempotency_key) VALUES ($1, $2, $3, $4)
       ON CONFLICT (sender_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
      [from, to, text, idempotencyKey ?? null],
    );
    if (rows[0]) return { message: toMessage(rows[0]), created: true };
    const existing = await this.pool.query<Row>(
      'SELECT * FROM messaging.messages WHERE sender_id = $1 AND idempotency_key = $2',
      [from, idempotencyKey],
    );
    return { message: toMessage(existing.rows[0]!), created: false };
  }

  /** The conversation between two users, newest first, `limit` per page. */
  async conversation(a: string, b: string, limit: number, before?: { createdAt: string; id: string }): Promise<Page> {
    const params: unknown[] = [a, b, limit + 1];
    let older = '';
    if (before) {
      params.push(before.createdAt, before.id);
      older = 'AND (created_at, id) < ($4::timestamptz, $5::uuid)';
    }
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM messaging.messages
       WHERE LEAST(sender_id, recipient_id) = LEAST($1::uuid, $2::uuid)
         AND GREATEST(sender_id, recipient_id) = GREATEST($1::uuid, $2::uuid) ${older}
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      params,
    );
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { messages: page.map(toMessage), nextCursor: more ? encodeCursor(page[page.length - 1]!) : undefined };
  }
}
