// The orphan guard of an embedded PostgreSQL server: a tiny process tied to the server's parent by an IPC
// channel (see orphan-guard.ts). When the channel closes (the parent died, even by SIGKILL, when no exit hook
// of its runs) it stops the server with a fast shutdown, SIGKILLs it if it is not gone within the grace, frees
// the SysV segment a killed server leaves behind, and removes the server's directory.
// Plain JavaScript run by `node` itself: it must start in milliseconds and load nothing of the workspace.
// Arguments: <directory to remove> <data directory> <grace in ms>.
import { rmSync } from 'node:fs';
import { postmasterOf } from './postmaster.mjs';
import { removeSysvSegment, sysvSegmentOf } from './sysv-segment.mjs';

const [dir, dataDir, graceMs] = [process.argv[2], process.argv[3], Number(process.argv[4])];
/** How long an orphaned guard waits for a server still starting to write its `postmaster.pid`, in ms. */
const STARTING_SERVER_MS = 5_000;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

// The guard shares its parent's process group. A Ctrl-C there (SIGINT) is the parent's to handle; a terminal
// hang-up sends the group SIGHUP, and so does the kernel (with SIGCONT) when the parent dies while a process of
// the group is stopped (a paused-process fault). Either would end the guard with its parent, before its work.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});

function onOrphaned() {
  // The grace runs from now, when the parent is gone, not from when the guard started.
  const until = Date.now() + graceMs;
  // The guard starts before the server: a parent killed while its server was still starting (or restarting)
  // leaves a server that writes its postmaster.pid a moment later. Wait for one, briefly; with none, there is
  // only the directory to remove.
  const startingUntil = Date.now() + STARTING_SERVER_MS;
  const find = () => {
    const pid = postmasterOf(dataDir);
    if (pid === undefined && Date.now() < startingUntil) return setTimeout(find, 100);
    if (pid === undefined) return finish(undefined);
    // Read before the shutdown: a clean one removes the file (and the segment with it).
    const segment = sysvSegmentOf(dataDir);
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // gone already
    }
    const waitForExit = () => {
      if (alive(pid) && Date.now() < until) return setTimeout(waitForExit, 100);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it shut down
      }
      finish(segment);
    };
    waitForExit();
  };
  find();
}

/** Frees the segment a killed server left (if any), removes the directory, and ends the guard. */
function finish(segment) {
  const freed = segment === undefined ? Promise.resolve() : removeSysvSegment(segment);
  void freed.finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

process.on('disconnect', onOrphaned);
// A parent that died while this script loaded closed the channel before the listener was there.
if (!process.connected) onOrphaned();
