import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time a process has used so far, all its threads, in ms with nanosecond resolution: the sum of each
 * thread's on-CPU time from `/proc/<pid>/task/<tid>/schedstat`. `/proc/<pid>/stat` counts in 10 ms clock ticks,
 * too coarse for a few hundred requests of a fixed-rate window (a tick per process per window is several %).
 * Threads that exited before the call are not counted (Node's threads live as long as the process).
 * Throws when the process is gone.
 */
export function processCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read: its time is lost with it.
    }
  }
  return ns / 1e6;
}

/** Total CPU time of several processes, in ms. */
export function totalCpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
}
