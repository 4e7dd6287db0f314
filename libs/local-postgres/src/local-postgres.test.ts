import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it('stops at once and leaves nothing behind when the server was SIGKILLed (no wait for an exit that happened)', async () => {
    const shmBefore = new Set(readdirSync('/dev/shm'));
    const server = await startLocalPostgres({ databaseUrl: '' });
    const dataDir = server.dataDir!;
    const pidFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    const segment = Number(pidFile[6]!.trim().split(/\s+/)[1]);
    expect(Number.isInteger(segment)).toBe(true);
    process.kill(server.pid!, 'SIGKILL');
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(existsSync(dataDir)).toBe(false);
    // The SysV segment recorded in postmaster.pid is gone, and no dynamic shared memory was left in /dev/shm.
    expect(spawnSync('ipcs', ['-m', '-i', String(segment)], { encoding: 'utf8' }).stderr).toMatch(/not found/);
    expect(readdirSync('/dev/shm').filter((f) => f.startsWith('PostgreSQL') && !shmBefore.has(f))).toEqual([]);
  }, 30_000);

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
