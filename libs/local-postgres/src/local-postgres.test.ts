import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, freePort, startLocalPostgres } from './index.ts';

describe('startLocalPostgres', () => {
  it('starts real PostgreSQL on loopback, creates databases, and removes everything on stop', async () => {
    const server = await startLocalPostgres({ databaseUrl: '' });
    try {
      expect(server.embedded).toBe(true);
      expect(new URL(server.url).hostname).toBe('127.0.0.1');
      const url = await server.createDatabase('nova_test');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ v: string; db: string }>('SELECT version() AS v, current_database() AS db');
      await client.end();
      expect(rows[0]?.v).toMatch(/^PostgreSQL \d+/);
      expect(rows[0]?.db).toBe('nova_test');
      const other = await createTestDatabase(server.url, 'iso');
      expect(new URL(other).pathname).toMatch(/^\/iso_[0-9a-f]{12}$/);
      await expect(server.createDatabase('Bad-Name')).rejects.toThrow(/lower-case letters/);
    } finally {
      await server.stop();
    }
    // Stopped: nothing listens there any more.
    const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 1000 });
    await expect(client.connect()).rejects.toThrow();
    await server.stop(); // idempotent
  });

  it('uses the server named by DATABASE_URL instead of starting one', async () => {
    const external = await startLocalPostgres({ databaseUrl: 'postgres://u:p@127.0.0.1:1/db' });
    expect(external.embedded).toBe(false);
    expect(external.url).toBe('postgres://u:p@127.0.0.1:1/db');
    await external.stop();
  });

  it('finds free loopback ports', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
  });
});
