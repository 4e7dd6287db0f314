import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time a process has used so far, all its threads, in ms with nanosecond resolution: the sum of each
 * thread's on-CPU time from `/proc/<pid>/task/<tid>/schedstat`. `/proc/<pid>/stat` counts in 10 ms clock ticks,
 * too coarse for a few hundred requests of a fixed-rate window (a tick per process per window is several %).
 * Threads that exited before the call are not counted (Node's threads live as long as the process).
 * Throws when the process is gone.
 */
export function processCpuMs(pid: number): number {
  return threadsCpuMs(pid, threadIds(pid));
}

/** The ids of a process's threads now (its main thread's is the pid). Throws when the process is gone. */
export function threadIds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

/**
 * CPU time some of a process's threads have used so far, in ms (see {@link processCpuMs}): e.g. the threads that
 * appeared after a moment, to charge a worker thread's work apart from the rest. Threads no longer there count 0.
 */
export function threadsCpuMs(pid: number, tids: readonly number[]): number {
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended (or ended between the listing and the read): its time is lost with it.
    }
  }
  return ns / 1e6;
}

/** Total CPU time of several processes, in ms. */
export function totalCpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
}
