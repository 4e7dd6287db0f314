import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One experiment of a run's `report.json`: its name, verdict, and the fault it left active, if any. */
export interface ReportedResult {
  name: string | undefined;
  verdict: string;
  /** What the "no fault left behind" check measured, when it failed. */
  faultLeft?: string;
}

/** The experiments a run's report records (written when the controller lived); empty without a report. */
export function reportedResults(dir: string): ReportedResult[] {
  const file = join(dir, 'report.json');
  if (!existsSync(file)) return [];
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    results: Array<{ name?: string; verdict: string; checks?: Array<{ name: string; ok: boolean; measured: string }> }>;
  };
  return r.results.map((x) => {
    const left = x.checks?.find((c) => c.name === 'no fault left behind' && !c.ok);
    return { name: x.name, verdict: x.verdict, ...(left ? { faultLeft: left.measured } : {}) };
  });
}

/** Sends a signal to a process the caller started; false when it is gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
