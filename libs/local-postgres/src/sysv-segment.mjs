// The SysV shared-memory segment of a PostgreSQL server, for the two that clean up after a killed one: the
// library (index.ts) and the orphan guard (orphan-guard.mjs), which is plain JavaScript run by `node` itself
// and so cannot import TypeScript. A clean shutdown removes the segment; a SIGKILLed postmaster leaves it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The segment id the server recorded in `<dataDir>/postmaster.pid` (line 7: key and id), or undefined when
 * the file is gone (a clean shutdown removes it, and the segment with it) or names none.
 * @param {string} dataDir
 * @returns {number | undefined}
 */
export function sysvSegmentOf(dataDir) {
  try {
    const line = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[6] ?? '';
    const id = Number(line.trim().split(/\s+/)[1]);
    return Number.isInteger(id) && id >= 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes segment `id` once no process is attached any more: a killed server's orphaned backends notice the
 * postmaster's death and detach within a second or two. Gives up (leaving it) after `timeoutMs`.
 * @param {number} id
 * @param {number} [timeoutMs] how long to wait for the last process to detach, in ms
 * @returns {Promise<'removed' | 'gone' | 'attached'>} what it found: removed by us, already gone, still in use
 */
export async function removeSysvSegment(id, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = spawnSync('ipcs', ['-m', '-i', String(id)], { encoding: 'utf8' });
    // util-linux's ipcs answers "id N not found" on stderr with exit status 0.
    if (info.status !== 0 || /not found/.test(info.stderr)) return 'gone';
    if (/nattch=0\b/.test(info.stdout)) {
      spawnSync('ipcrm', ['-m', String(id)], { stdio: 'ignore' });
      return 'removed';
    }
    if (Date.now() >= deadline) return 'attached';
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
