import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long an orphaned server gets for a fast shutdown before its guard SIGKILLs it, in ms. */
export const ORPHAN_SHUTDOWN_GRACE_MS = 15_000;

/**
 * PostgreSQL outlives a parent killed with SIGKILL (no exit hook runs). A tiny guard process (orphan-guard.mjs),
 * tied to us by an IPC channel, stops the server the moment that channel closes: a fast shutdown, SIGKILL when
 * it is not gone within `graceMs` of our death, then it frees the SysV segment a killed server leaves and removes
 * `dir`, so a crashed parent leaves no database, data or shared memory behind. Kill the guard (by the returned
 * handle) before stopping the server yourself.
 *
 * Start it before the server: it finds the server when it is needed, from `postmaster.pid` in `dataDir` (a
 * postgres with `-D dataDir`, never another process that inherited a stale pid), waiting a few seconds for a
 * server still starting to write it. So a parent killed while its server starts, or restarts, leaves nothing
 * either, and one guard serves every restart.
 *
 * @param dir the directory to remove (the server's data directory lies in it)
 * @param dataDir the server's data directory, where `postmaster.pid` names its pid and SysV segment
 * @param graceMs how long the fast shutdown may take, in ms
 */
export function guardAgainstOrphan(dir: string, dataDir: string, graceMs = ORPHAN_SHUTDOWN_GRACE_MS): ChildProcess {
  const script = fileURLToPath(new URL('./orphan-guard.mjs', import.meta.url));
  const guard = spawn(process.execPath, [script, dir, dataDir, String(graceMs)], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  // Neither the guard nor its channel keeps us alive.
  guard.unref();
  guard.channel?.unref();
  return guard;
}
