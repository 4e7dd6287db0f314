import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { stillRunning, type ProcessInfo } from './processes.ts';

/** What of the kernel's shared memory exists now: PostgreSQL's /dev/shm files, SysV segment ids by creator pid. */
export interface SharedMemory {
  files: Set<string>;
  /** Segment id → the pid of the process that created it. */
  segments: Map<string, number>;
}

export function sharedMemory(): SharedMemory {
  const files = new Set(
    existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('PostgreSQL')) : [],
  );
  const out = spawnSync('ipcs', ['-m', '-p'], { encoding: 'utf8' }).stdout ?? '';
  // Rows: shmid owner cpid lpid; every segment, whoever owns it.
  const segments = new Map(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 4 && /^\d+$/.test(f[0]!) && /^\d+$/.test(f[2]!))
      .map((f) => [f[0]!, Number(f[2])] as const),
  );
  return { files, segments };
}

/** What one trial must not leave: its processes, PostgreSQL's data directories, its shared memory. */
export interface LeakInputs {
  processes: readonly ProcessInfo[];
  dataDirs: readonly string[];
  before: SharedMemory;
}

/**
 * What a trial left behind, each named: a process of the run still running, a data directory still on disk,
 * shared memory created during the trial and still there. Waits up to `graceMs` for them to go: longer than
 * PostgreSQL's orphan guard may take (a fast shutdown of up to 15 s, then up to 5 s for a killed server's
 * segment), so what is reported was left for good, not caught mid-cleanup.
 */
export async function leaksAfter(inputs: LeakInputs, graceMs = 25_000): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const leaks = [
      ...inputs.processes.filter(stillRunning).map((p) => `process ${p.pid} (${p.cmdline.slice(0, 80)})`),
      ...inputs.dataDirs.filter((d) => existsSync(d)).map((d) => `data directory ${d}`),
      ...newSharedMemory(inputs.before, new Set(inputs.processes.map((p) => p.pid))),
    ];
    if (leaks.length === 0 || Date.now() > deadline) return leaks;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Shared memory that is new since `before`. A SysV segment counts only when one of the run's processes created
 * it: a PostgreSQL that a neighbour (another test, another run) started meanwhile is not this run's leak.
 */
function newSharedMemory(before: SharedMemory, runPids: ReadonlySet<number>): string[] {
  const now = sharedMemory();
  return [
    ...[...now.files].filter((f) => !before.files.has(f)).map((f) => `shared memory /dev/shm/${f}`),
    ...[...now.segments]
      .filter(([id, creator]) => !before.segments.has(id) && runPids.has(creator))
      .map(([id]) => `SysV segment ${id}`),
  ];
}
