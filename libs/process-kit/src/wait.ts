import type { OwnedProcess } from './owned-process.ts';

const lastLines = (p: OwnedProcess): string => p.tail.slice(-15).join('\n');

/**
 * Resolves with the first output line of `p` matching `pattern` (lines already printed count); rejects,
 * with the last lines, if the process exits first or `timeoutMs` passes.
 */
export function waitForLine(p: OwnedProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  for (const line of p.tail) {
    const m = pattern.exec(line);
    if (m) return Promise.resolve(m);
  }
  return new Promise((resolve, reject) => {
    let stop = (): void => undefined;
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(`${p.options.name} printed no line matching ${pattern} within ${timeoutMs} ms:\n${lastLines(p)}`),
      );
    }, timeoutMs);
    stop = p.onLine((line) => {
      const m = pattern.exec(line);
      if (!m) return;
      stop();
      clearTimeout(timer);
      resolve(m);
    });
    void p.exited.then((code) => {
      if (!p.running) {
        stop();
        clearTimeout(timer);
        reject(new Error(`${p.options.name} exited (code ${code}) before it was ready:\n${lastLines(p)}`));
      }
    });
  });
}

/**
 * Polls `probe` every 100 ms until it answers true; rejects, with the last lines, if the process exits first
 * or `timeoutMs` passes. A probe that throws counts as not ready.
 */
export async function waitUntil(
  p: OwnedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what = `${p.options.name} ready`,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!p.running)
      throw new Error(`${p.options.name} exited (code ${await p.exited}) before ${what}:\n${lastLines(p)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000} s:\n${lastLines(p)}`);
}
