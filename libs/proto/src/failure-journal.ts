import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The agent's journal of the PIDs it holds stopped (process-failure faults), in its state directory: one PID
 * per line. The agent writes it (a restarted agent resumes them first thing); a local supervisor reads it so as
 * not to take such a process for a hung one. Defined once, here, for both.
 */
export const FAILURE_JOURNAL_FILE = 'stopped-pids';

/** The PIDs of a failure journal's text. */
export function parseFailureJournal(text: string): number[] {
  return text.split('\n').filter(Boolean).map(Number);
}

/** The PIDs an agent with this state directory holds stopped right now; empty when it has no journal. */
export function heldStoppedPids(stateDir: string): Set<number> {
  try {
    return new Set(parseFailureJournal(readFileSync(join(stateDir, FAILURE_JOURNAL_FILE), 'utf8')));
  } catch {
    return new Set();
  }
}
