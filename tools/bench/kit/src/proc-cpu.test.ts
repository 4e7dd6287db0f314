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
