/**
 * The monotonic clock every policy reads, in milliseconds. It is read through `performance.now()` at call
 * time, so test runners' fake timers (which replace `performance`) control it.
 */
export function now(): number {
  return performance.now();
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
