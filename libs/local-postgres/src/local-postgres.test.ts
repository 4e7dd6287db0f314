import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '@nova/process-kit';
import { createTestDatabase, removeStaleDataDirectories, startLocalPostgres } from './index.ts';

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

  it('supervised, comes back on its port with its data when SIGKILLed, and stays down once stopped', async () => {
    const events: string[] = [];
    const server = await startLocalPostgres({ databaseUrl: '', supervise: (e) => events.push(e.type) });
    try {
      const url = await server.createDatabase('kept');
      const write = new pg.Client({ connectionString: url });
      await write.connect();
      await write.query("CREATE TABLE t (v text); INSERT INTO t VALUES ('before the crash')");
      // synchronous_commit is off (a throwaway local database): a commit reaches the WAL file within ~200 ms,
      // so the last instant's commits may be lost in a crash. What was flushed must come back.
      await write.query('CHECKPOINT');
      await write.end();
      const first = server.pid!;
      process.kill(first, 'SIGKILL');
      await vi.waitFor(() => expect(events).toEqual(['exited', 'restarted']), { timeout: 20_000, interval: 100 });
      expect(server.pid).not.toBe(first);
      const read = new pg.Client({ connectionString: url });
      await read.connect();
      expect((await read.query<{ v: string }>('SELECT v FROM t')).rows).toEqual([{ v: 'before the crash' }]);
      await read.end();
    } finally {
      await server.stop();
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(events).toEqual(['exited', 'restarted']);
    expect(existsSync(server.dataDir!)).toBe(false);
  }, 60_000);

  it("removes what a killed predecessor left (a dead server's directory, an old one that never got a server), nothing else", async () => {
    const root = mkdtempSync(join(tmpdir(), 'nova-stale-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const make = (name: string, pid?: number, ageMs = 0): string => {
      const dir = join(root, name);
      mkdirSync(join(dir, 'data'), { recursive: true });
      if (pid !== undefined) writeFileSync(join(dir, 'data', 'postmaster.pid'), `${pid}\n/x\n`);
      const at = (Date.now() - ageMs) / 1000;
      utimesSync(dir, at, at);
      return dir;
    };
    // A live "server" of one directory: a process whose command line says `-D <that data directory>`, as a
    // postmaster's does.
    const liveData = join(root, 'nova-pg-live', 'data');
    const server = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', '-D', liveData], {
      stdio: 'ignore',
    });
    try {
      // Until it has exec'd, its command line is still this process's.
      await vi.waitFor(() => expect(readFileSync(`/proc/${server.pid}/cmdline`, 'utf8')).toContain(liveData), {
        timeout: 5_000,
        interval: 20,
      });
      const deadServer = make('nova-pg-dead', Number(dead.stdout));
      const liveServer = make('nova-pg-live', server.pid);
      // A pid the kernel gave to another process since (here: this test's own): the server is gone all the same.
      const reused = make('nova-pg-reused', process.pid);
      const settingUp = make('nova-pg-young');
      const abandoned = make('nova-pg-old', undefined, 2 * 3_600_000);
      const other = make('something-else', Number(dead.stdout));
      expect((await removeStaleDataDirectories(root)).sort()).toEqual([deadServer, reused, abandoned].sort());
      expect([liveServer, settingUp, other].every((d) => existsSync(d))).toBe(true);
      expect([deadServer, reused, abandoned].some((d) => existsSync(d))).toBe(false);
    } finally {
      server.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  });

  // As root only: that is when the server runs as another user (CI runs as root).
  it.runIf(process.getuid?.() === 0)(
    'as root, names TMPDIR and the fix when the postgres user cannot reach it, and leaves nothing there',
    async () => {
      const private0700 = mkdtempSync(join(tmpdir(), 'nova-private-tmp-'));
      const previous = process.env['TMPDIR'];
      process.env['TMPDIR'] = private0700;
      try {
        await expect(startLocalPostgres({ databaseUrl: '' })).rejects.toThrow(
          `the temporary directory ${private0700} (TMPDIR, mode 700) cannot be reached by the postgres user`,
        );
        expect(readdirSync(private0700)).toEqual([]);
      } finally {
        if (previous === undefined) delete process.env['TMPDIR'];
        else process.env['TMPDIR'] = previous;
        rmSync(private0700, { recursive: true, force: true });
      }
    },
  );

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
