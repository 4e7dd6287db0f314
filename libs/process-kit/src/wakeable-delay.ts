/**
 * The delays of a supervisor's backoff before a restart: they do not keep the process alive, and {@link end}
 * ends the current one and every later one at once. For the stop that waits on a restart: an unref'd timer
 * alone, awaited while nothing else is pending, lets Node's event loop empty, and the process exits (code 1
 * from a `beforeExit` handler, or 0) before the stop, and whatever was to follow it (a run's reports), is done.
 */
export class WakeableDelay {
  private wakeCurrent: (() => void) | undefined;
  private ended = false;

  /** Resolves after `ms`, or at {@link end}, whichever comes first; at once once ended. */
  wait(ms: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeCurrent === done) this.wakeCurrent = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeCurrent = done;
    });
  }

  /** Ends the current wait, if any, and makes every later one end at once. */
  end(): void {
    this.ended = true;
    this.wakeCurrent?.();
  }
}
