import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive } from '@nova/process-kit';
import { guardAgainstOrphan } from './orphan-guard.ts';

const fixture = fileURLToPath(new URL('../test/fixtures/orphaning-parent.ts', import.meta.url));

/** What each test started, so that a failing one leaves nothing running either. */
const started: { parent: ChildProcess; server?: { pid: number; dataDir: string; segment: number | undefined } }[] = [];
afterEach(async () => {
  for (const { parent, server } of started.splice(0)) {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
    if (!server || (await leftBehind(server, 20_000)).left.length === 0) continue;
    // The guard failed (that test failed too): clean up by hand.
    if (alive(server.pid)) process.kill(server.pid, 'SIGKILL');
    rmSync(dirname(server.dataDir), { recursive: true, force: true });
    await leftBehind({ ...server, dataDir: '/nonexistent' }, 5_000);
    if (server.segment !== undefined) spawnSync('ipcrm', ['-m', String(server.segment)]);
  }
}, 60_000);

/**
 * Starts the fixture parent with the guard's grace; resolves with its server once it is up. `ownGroup`: the
 * parent leads a process group (and session) of its own, as a controller started from a terminal does.
 */
async function parentWithServer(graceMs: number, ownGroup = false) {
  const child = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', fixture], {
    env: { ...process.env, ORPHAN_GRACE_MS: String(graceMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: ownGroup,
  });
  const entry: (typeof started)[number] = { parent: child };
  started.push(entry);
  const server = await new Promise<{ pid: number; dataDir: string; url: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`the fixture exited with ${code} before its server was up`)));
  });
  // postmaster.pid, line 7: the SysV segment's key and id.
  const segment = Number(
    readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[6]!.trim().split(/\s+/)[1],
  );
  const crash = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  entry.server = { ...server, segment };
  return { ...server, segment, crash, parentPid: child.pid! };
}

const alive = pidAlive;
const segmentExists = (id: number | undefined): boolean =>
  id !== undefined && !/not found/.test(spawnSync('ipcs', ['-m', '-i', String(id)], { encoding: 'utf8' }).stderr);

/** A client connected to `url`; `ended` resolves with the first error it sees (the second, the socket closing, follows it). */
async function connectedClient(url: string): Promise<{ ended: Promise<Error> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { ended: new Promise<Error>((resolve) => client.on('error', resolve)) };
}

/** An orderly (fast) shutdown: the server tells its clients why; a SIGKILLed one leaves them to its orphans. */
const ORDERLY = /terminating connection due to administrator command/;

/** What the server left, polled every 100 ms until nothing or `withinMs`; returns it with the time it took. */
async function leftBehind(server: { pid: number; dataDir: string; segment: number | undefined }, withinMs: number) {
  const started = Date.now();
  for (;;) {
    const left = [
      ...(alive(server.pid) ? [`server pid ${server.pid}`] : []),
      ...(existsSync(server.dataDir) ? [`data directory ${server.dataDir}`] : []),
      ...(segmentExists(server.segment) ? [`SysV segment ${server.segment}`] : []),
    ];
    const ms = Date.now() - started;
    if (left.length === 0 || ms > withinMs) return { left, ms };
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the orphan guard of an embedded PostgreSQL', () => {
  it('stops the server of a parent SIGKILLed long after the server started, and leaves nothing', async () => {
    // The grace counts from the parent's death: a guard that counted from its own start would SIGKILL the
    // server at once here (its grace long spent), and the server's SysV segment would stay.
    const server = await parentWithServer(1_000);
    const { ended } = await connectedClient(server.url);
    await new Promise((r) => setTimeout(r, 1_500));
    await server.crash();
    expect((await ended).message).toMatch(ORDERLY);
    expect((await leftBehind(server, 20_000)).left).toEqual([]);
  }, 60_000);

  it('stops the server of a parent SIGKILLed the moment the server was up (the guard still loading)', async () => {
    // The parent dies before the guard's script has run: its channel is closed before the guard listens.
    const server = await parentWithServer(1_000);
    await server.crash();
    expect((await leftBehind(server, 20_000)).left).toEqual([]);
  }, 60_000);

  it('SIGKILLs a server that does not shut down within the grace, then frees its segment and directory', async () => {
    const server = await parentWithServer(2_000);
    await new Promise((r) => setTimeout(r, 500)); // the guard listens
    await server.crash();
    // A stopped server cannot act on the guard's SIGINT; only SIGKILL ends it.
    process.kill(server.pid, 'SIGSTOP');
    const early = await leftBehind(server, 1_000);
    expect(early.left).toContain(`server pid ${server.pid}`); // the guard waits out its grace
    expect((await leftBehind(server, 20_000)).left).toEqual([]);
  }, 60_000);

  it('stops the server of a parent SIGKILLed while that server was still starting', async () => {
    // The guard starts before the server; before, it started once the server was up, and a parent killed in
    // between left the server running for good.
    const child = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', fixture], {
      env: { ...process.env, ORPHAN_GRACE_MS: '1000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const entry: (typeof started)[number] = { parent: child };
    started.push(entry);
    let up = false;
    child.stdout!.on('data', () => (up = true));
    // The postmaster is the parent's child from the moment it is spawned, a while before it accepts connections.
    let server: { pid: number; dataDir: string } | undefined;
    for (const until = Date.now() + 30_000; !server && Date.now() < until;) {
      server = postgresChildOf(child.pid!);
      if (!server) await new Promise((r) => setTimeout(r, 10));
    }
    expect(server).toBeDefined();
    entry.server = { ...server!, segment: undefined };
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    expect(up).toBe(false); // killed before startLocalPostgres returned
    expect((await leftBehind(entry.server, 20_000)).left).toEqual([]);
  }, 60_000);

  it('stops the server restarted after a crash when its parent is SIGKILLed later: one guard serves every restart', async () => {
    const child = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', fixture], {
      env: { ...process.env, ORPHAN_GRACE_MS: '1000', SUPERVISE: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const entry: (typeof started)[number] = { parent: child };
    started.push(entry);
    const lines: Record<string, unknown>[] = [];
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const parts = out.split('\n');
      out = parts.pop()!;
      for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l));
    });
    const line = async (key: string) => {
      for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        const found = lines.find((l) => key in l);
        if (found) return found;
      }
      throw new Error(`the fixture printed no ${key} line`);
    };
    const first = (await line('pid')) as { pid: number; dataDir: string };
    process.kill(first.pid, 'SIGKILL');
    const { restarted } = (await line('restarted')) as { restarted: number };
    expect(restarted).not.toBe(first.pid);
    const segment = Number(
      readFileSync(join(first.dataDir, 'postmaster.pid'), 'utf8').split('\n')[6]!.trim().split(/\s+/)[1],
    );
    entry.server = { pid: restarted, dataDir: first.dataDir, segment };
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    expect((await leftBehind(entry.server, 20_000)).left).toEqual([]);
    expect(alive(first.pid)).toBe(false);
  }, 60_000);

  it('finds a server that writes its postmaster.pid after its parent died, and never signals a stranger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-guard-test-'));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    // A stale postmaster.pid naming a process that is not a postgres of this directory (a reused pid).
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    writeFileSync(join(dataDir, 'postmaster.pid'), `${stranger.pid}\n`);
    try {
      const guard = guardAgainstOrphan(dir, dataDir, 1_000);
      guard.disconnect(); // as if its parent had died
      await new Promise((r) => setTimeout(r, 500));
      // The server comes up late, with this data directory.
      const late = spawn('python3', ['-c', 'import time; time.sleep(30)', '-D', dataDir], { stdio: 'ignore' });
      const lateExit = new Promise((resolve) => late.once('exit', (code, signal) => resolve(signal ?? code)));
      writeFileSync(join(dataDir, 'postmaster.pid'), `${late.pid}\n`);
      await expect(
        Promise.race([lateExit, new Promise((r) => setTimeout(() => r('still running'), 10_000))]),
      ).resolves.not.toBe('still running');
      for (let i = 0; i < 100 && existsSync(dir); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(dir)).toBe(false);
      expect(alive(stranger.pid!)).toBe(true);
    } finally {
      stranger.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('outlives a hang-up of the terminal (SIGHUP to the whole process group) that ends its parent', async () => {
    // Closing the terminal sends SIGHUP to its foreground process group: the guard's parent dies of it, the
    // server only reloads its configuration, and the guard must live on to stop it.
    const server = await parentWithServer(10_000, true);
    const { ended } = await connectedClient(server.url);
    await new Promise((r) => setTimeout(r, 500)); // the guard listens
    process.kill(-server.parentPid, 'SIGHUP');
    expect((await ended).message).toMatch(ORDERLY);
    expect((await leftBehind(server, 20_000)).left).toEqual([]);
  }, 60_000);
});

/** The postgres that `parent` spawned (its pid and `-D` directory), found in /proc; undefined when none yet. */
function postgresChildOf(parent: number): { pid: number; dataDir: string } | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== parent) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const d = args.indexOf('-D');
      if (args[0]!.endsWith('/postgres') && d >= 0) return { pid: Number(entry), dataDir: args[d + 1]! };
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
