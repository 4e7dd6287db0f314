import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FAILURE_JOURNAL_FILE, parseFailureJournal } from '@nova/proto';

/**
 * The journal of stopped PIDs, so that a restarted agent resumes them first thing (and a local supervisor,
 * reading it with `heldStoppedPids`, leaves them alone).
 */
export class FailureJournal {
  constructor(private readonly dir: string | undefined) {}
  private get file(): string | undefined {
    return this.dir ? join(this.dir, FAILURE_JOURNAL_FILE) : undefined;
  }
  async add(pid: number): Promise<void> {
    if (this.file) await appendFile(this.file, `${pid}\n`);
  }
  async remove(pid: number): Promise<void> {
    if (!this.file) return;
    const pids = parseFailureJournal(await readFile(this.file, 'utf8').catch(() => '')).filter((p) => p !== pid);
    await writeFile(this.file, pids.map((p) => `${p}\n`).join(''));
  }
  /** Resumes every PID a previous run left stopped; returns them. */
  async resumeLeftovers(): Promise<number[]> {
    if (!this.file) return [];
    const pids = parseFailureJournal(await readFile(this.file, 'utf8').catch(() => ''));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await writeFile(this.file, '');
    return pids;
  }
}
