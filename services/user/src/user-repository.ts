import type pg from 'pg';

/** A user as the API shows it (never the password hash). */
export interface User {
  id: string;
  email: string;
  name: string;
  createdAt: string;
}

interface Row {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_at: Date;
}

const toUser = (r: Row): User => ({ id: r.id, email: r.email, name: r.name, createdAt: r.created_at.toISOString() });

/** Users in PostgreSQL (schema `users`). */
export class UserRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Creates a user; returns undefined when the email is taken. */
  async create(email: string, name: string, passwordHash: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<Row>(
      `INSERT INTO users.users (email, name, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT ((lower(email))) DO NOTHING RETURNING *`,
      [email, name, passwordHash],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async byId(id: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM users.users WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async byEmail(email: string): Promise<User | undefined> {
    const row = await this.rowByEmail(email);
    return row ? toUser(row) : undefined;
  }

  /** The user and its password hash, for the credentials check. */
  async credentials(email: string): Promise<{ user: User; passwordHash: string } | undefined> {
    const row = await this.rowByEmail(email);
    return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
  }

  /** Deletes a user; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM users.users WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  private async rowByEmail(email: string): Promise<Row | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM users.users WHERE lower(email) = lower($1)', [email]);
    return rows[0];
  }
}
