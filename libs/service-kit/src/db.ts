import pg from 'pg';

/** A named, ordered schema change. Applied once, in order, inside a transaction. */
export interface Migration {
  id: string;
  sql: string;
}

/**
 * A connection pool with sane limits for a small service. `onIdleError` hears of an idle connection the
 * server dropped (default: a process warning on stderr).
 */
export function createPool(
  connectionString: string,
  options: pg.PoolConfig = {},
  onIdleError: (error: Error) => void = (error) => process.emitWarning(`database connection lost: ${error.message}`),
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
    // A query that hangs (e.g. under an IO fault) must not hold a request forever.
    statement_timeout: 5_000,
    ...options,
  });
  // An idle connection the server dropped (PostgreSQL restarted, a failover) is an 'error' on the pool, and an
  // 'error' nobody listens to ends the process: every service died with its database. The pool has already
  // thrown that connection away; the next query opens a new one, and readiness reports the outage meanwhile.
  pool.on('error', onIdleError);
  return pool;
}

/**
 * Applies the migrations not yet recorded in `<schema>.schema_migrations`, in order, each in its own
 * transaction, under an advisory lock so that replicas starting together do not race.
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: readonly Migration[]): Promise<string[]> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new RangeError(`migrate: invalid schema name "${schema}"`);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ id: string }>(`SELECT id FROM ${schema}.schema_migrations`)).rows.map((r) => r.id),
    );
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(m.sql);
        await client.query(`INSERT INTO ${schema}.schema_migrations (id) VALUES ($1)`, [m.id]);
        await client.query('COMMIT');
        applied.push(m.id);
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${schema}/${m.id} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [schema]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/** A readiness check: the pool can run a query. */
export async function pingDatabase(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1');
}
