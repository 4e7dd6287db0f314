import { readFileSync } from 'node:fs';

/** A process's resident set size now, in MiB (`VmRSS` of `/proc/<pid>/status`); undefined once it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** One reading of a process's memory: when (s since the soak started) and how much (MiB). */
export interface MemoryPoint {
  atSeconds: number;
  mib: number;
}

/**
 * The least-squares slope of the readings, in MiB per hour (0 with fewer than two distinct times). A flat
 * process has a slope near 0; a leak, a steady positive one.
 */
export function slopeMiBPerHour(points: readonly MemoryPoint[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.atSeconds, 0) / n;
  const my = points.reduce((s, p) => s + p.mib, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.atSeconds - mx) * (p.mib - my);
    sxx += (p.atSeconds - mx) ** 2;
  }
  return sxx === 0 ? 0 : (sxy / sxx) * 3600;
}
