import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest global setup shared by every project: the run's temporary files go in one directory of their own, removed
 * when the run ends. `TMPDIR` is pointed at it before the test workers start, so `os.tmpdir()` in the tests and in
 * every process they spawn (CLIs, services, PostgreSQL's data directories) resolves there. Without it, each run left
 * a few dozen directories in /tmp (reports, state and certificates of tests that do not remove their own), and a
 * day of CI runs left hundreds. What the product itself leaves is still tested where it matters (e.g. `chaos run`
 * with k6 asserts its temporary directory is gone); this only stops tests' own litter from piling up.
 */
export default function setup(): () => void {
  const previous = process.env['TMPDIR'];
  const dir = mkdtempSync(join(tmpdir(), 'nova-test-'));
  // As /tmp is: others may write to it (PostgreSQL runs initdb as its own user and reads files made there), only
  // an entry's owner may remove it.
  chmodSync(dir, 0o1777);
  process.env['TMPDIR'] = dir;
  return () => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
}
