import { describe, expect, it } from 'vitest';
import { processCpuMs, totalCpuMs } from './proc-cpu.ts';

describe('processCpuMs', () => {
  it('sees this process burn CPU, within the clock tick', () => {
    const before = processCpuMs(process.pid);
    const start = process.cpuUsage();
    const until = Date.now() + 200;
    while (Date.now() < until) Math.sqrt(Math.random());
    const used = process.cpuUsage(start);
    const measured = processCpuMs(process.pid) - before;
    expect(measured).toBeGreaterThan(150);
    expect(Math.abs(measured - (used.user + used.system) / 1000)).toBeLessThan(30);
    expect(totalCpuMs([process.pid, process.pid])).toBeGreaterThanOrEqual(2 * before);
  });

  it('throws for a process that does not exist', () => {
    expect(() => processCpuMs(2 ** 22 + 1)).toThrow();
  });
});
