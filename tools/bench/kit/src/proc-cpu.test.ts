import { describe, expect, it } from 'vitest';
import { processCpuMs, totalCpuMs } from './proc-cpu.ts';

describe('processCpuMs', () => {
  it('sees this process burn CPU, as process.cpuUsage() does, to the millisecond', () => {
    const before = processCpuMs(process.pid);
    const start = process.cpuUsage();
    // Burn 200 ms of CPU (not of wall time: on a loaded machine a wall-clock loop may get far less).
    const spent = (): number => {
      const u = process.cpuUsage(start);
      return (u.user + u.system) / 1000;
    };
    while (spent() < 200) Math.sqrt(Math.random());
    const used = spent();
    const measured = processCpuMs(process.pid) - before;
    expect(measured).toBeGreaterThanOrEqual(195);
    expect(Math.abs(measured - used)).toBeLessThan(10);
    expect(totalCpuMs([process.pid, process.pid])).toBeGreaterThanOrEqual(2 * before);
  });

  it('throws for a process that does not exist', () => {
    expect(() => processCpuMs(2 ** 22 + 1)).toThrow();
  });
});

describe('threadIds and threadsCpuMs', () => {
  it("charge a worker thread's CPU to its own thread, apart from the main thread's", async () => {
    const { Worker } = await import('node:worker_threads');
    const { threadIds, threadsCpuMs } = await import('./proc-cpu.ts');
    const before = new Set(threadIds(process.pid));
    expect(before.has(process.pid)).toBe(true);
    // A worker that burns 300 ms of its own CPU, then waits to be ended (so its thread is still there to read).
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const start = process.hrtime.bigint();
       const t0 = require('node:fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0];
       let now = t0;
       while (Number(BigInt(now) - BigInt(t0)) < 300e6) now = require('node:fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0];
       parentPort.postMessage(Number(process.hrtime.bigint() - start));
       setInterval(() => {}, 1000);`,
      { eval: true },
    );
    const mainBefore = threadsCpuMs(process.pid, [process.pid]);
    await new Promise((resolve) => worker.once('message', resolve));
    const added = threadIds(process.pid).filter((t) => !before.has(t));
    const mainSpent = threadsCpuMs(process.pid, [process.pid]) - mainBefore;
    try {
      expect(threadsCpuMs(process.pid, added)).toBeGreaterThanOrEqual(300);
      // Waiting for a message costs the main thread next to nothing: the burn is not charged to it.
      expect(mainSpent).toBeLessThan(100);
      expect(threadsCpuMs(process.pid, [2 ** 22 + 1])).toBe(0);
    } finally {
      await worker.terminate();
    }
  });
});
