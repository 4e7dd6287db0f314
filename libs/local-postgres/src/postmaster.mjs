// The postmaster of a PostgreSQL data directory, for the two that clean up after a killed controller: the
// library's start-up sweep (index.ts) and the orphan guard (orphan-guard.mjs), which is plain JavaScript run by
// `node` itself and so cannot import TypeScript.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The postmaster serving `dataDir`, read from its `postmaster.pid` (line 1), and only if that process is a
 * postgres started with `-D dataDir`: a stale file (a SIGKILLed server's) may name a pid the kernel has since
 * given to another process, which is neither ours to signal nor a sign that the server still runs.
 * @param {string} dataDir
 * @returns {number | undefined}
 */
export function postmasterOf(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const d = args.indexOf('-D');
    return d >= 0 && args[d + 1] === dataDir ? pid : undefined;
  } catch {
    return undefined;
  }
}
