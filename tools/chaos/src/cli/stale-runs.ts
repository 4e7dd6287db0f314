import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OWNER = 'controller.pid';

/** Marks a run's directory as this process's, so that a later start can tell whether its owner is gone. */
export function claimRunDir(runDir: string): void {
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, OWNER), String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the data (the services' data directories) of runs whose controller is gone without cleaning up
 * (SIGKILLed, the machine stopped): a run's `data/` is removed at its end, so one left behind with a dead
 * owner is a leftover. The run's logs stay, as after any run. Returns the directories removed.
 */
export function removeDeadRunsData(runsRoot: string): string[] {
  if (!existsSync(runsRoot)) return [];
  const removed: string[] = [];
  for (const id of readdirSync(runsRoot)) {
    const dir = join(runsRoot, id);
    const data = join(dir, 'data');
    if (!existsSync(data)) continue;
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER), 'utf8'));
    } catch {
      continue; // a run without an owner file is not ours to judge
    }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
    rmSync(data, { recursive: true, force: true });
    removed.push(data);
  }
  return removed;
}
