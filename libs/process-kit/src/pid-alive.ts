/**
 * Whether a process with this pid exists (signal 0: nothing is sent). True also for one we may not signal
 * (EPERM), which exists all the same. A zombie counts as alive until its parent reaps it.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
