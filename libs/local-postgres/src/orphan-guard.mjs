// The orphan guard of an embedded PostgreSQL server: a tiny process tied to the server's parent by an IPC
// channel (see orphan-guard.ts). When the channel closes (the parent died, even by SIGKILL, when no exit hook
// of its runs) it stops the server with a fast shutdown, SIGKILLs it if it is not gone within the grace, frees
// the SysV segment a killed server leaves behind, and removes the server's directory.
// Plain JavaScript run by `node` itself: it must start in milliseconds and load nothing of the workspace.
// Arguments: <postmaster pid> <directory to remove> <data directory> <grace in ms>.
import { rmSync } from 'node:fs';
import { removeSysvSegment, sysvSegmentOf } from './sysv-segment.mjs';

const [pid, dir, dataDir, graceMs] = [
  Number(process.argv[2]),
  process.argv[3],
  process.argv[4],
  Number(process.argv[5]),
];

function alive() {
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
  // Read before the shutdown: a clean one removes the file (and the segment with it).
  const segment = sysvSegmentOf(dataDir);
  // The grace runs from now, when the parent is gone, not from when the guard started.
  const until = Date.now() + graceMs;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    // gone already
  }
  const waitForExit = () => {
    if (alive() && Date.now() < until) return setTimeout(waitForExit, 100);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // it shut down
    }
    const freed = segment === undefined ? Promise.resolve() : removeSysvSegment(segment);
    void freed.finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  };
  waitForExit();
}

process.on('disconnect', onOrphaned);
// A parent that died while this script loaded closed the channel before the listener was there.
if (!process.connected) onOrphaned();
