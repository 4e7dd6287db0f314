import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { stillRunning, type ProcessInfo } from './processes.ts';

/** What of the kernel's shared memory exists now: PostgreSQL's /dev/shm files and SysV segment ids. */
export interface SharedMemory {
  files: Set<string>;
  segments: Set<string>;
}

export function sharedMemory(): SharedMemory {
  const files = new Set(
    existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('PostgreSQL')) : [],
  );
  const out = spawnSync('ipcs', ['-m'], { encoding: 'utf8' }).stdout ?? '';
  // Rows: key shmid owner perms bytes nattch status; ids of segments, whoever owns them.
  const segments = new Set(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => /^0x[0-9a-f]+$/.test(f[0] ?? '') && /^\d+$/.test(f[1] ?? ''))
      .map((f) => f[1]!),
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
 * shared memory created during the trial and still there. Waits up to `graceMs` for them to go (a guard
 * stops PostgreSQL, a SIGKILLed server's backends let go of its segment within a second or two).
 */
export async function leaksAfter(inputs: LeakInputs, graceMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const leaks = [
      ...inputs.processes.filter(stillRunning).map((p) => `process ${p.pid} (${p.cmdline.slice(0, 80)})`),
      ...inputs.dataDirs.filter((d) => existsSync(d)).map((d) => `data directory ${d}`),
      ...newSharedMemory(inputs.before),
    ];
    if (leaks.length === 0 || Date.now() > deadline) return leaks;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function newSharedMemory(before: SharedMemory): string[] {
  const now = sharedMemory();
  return [
    ...[...now.files].filter((f) => !before.files.has(f)).map((f) => `shared memory /dev/shm/${f}`),
    ...[...now.segments].filter((s) => !before.segments.has(s)).map((s) => `SysV segment ${s}`),
  ];
}
