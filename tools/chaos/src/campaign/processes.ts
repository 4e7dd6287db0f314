import { readdirSync, readFileSync } from 'node:fs';

/** A process as /proc shows it: enough to find it again and to tell it from a later one with its pid. */
export interface ProcessInfo {
  pid: number;
  /** Its command line, arguments joined by spaces. */
  cmdline: string;
  /** Its start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, its identity. */
  startTicks: number;
}

function stat(pid: number): { ppid: number; startTicks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it start at the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Every process descending from `root` (not `root` itself), from one pass over /proc. */
export function descendantsOf(root: number): ProcessInfo[] {
  const children = new Map<number, number[]>();
  const starts = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const s = stat(pid);
    if (!s) continue;
    starts.set(pid, s.startTicks);
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out: ProcessInfo[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push({ pid, cmdline: cmdlineOf(pid), startTicks: starts.get(pid) ?? 0 });
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Is this very process (pid and start time) still running? A reused pid is another process. */
export function stillRunning(p: ProcessInfo): boolean {
  const s = stat(p.pid);
  return s !== undefined && s.startTicks === p.startTicks;
}

/** What role a process of a run plays, from its command line. */
export function roleOf(cmdline: string): 'chaos-agent' | 'postgresql' | 'service' | 'other' {
  if (cmdline.includes('chaos-agent/src/main.ts')) return 'chaos-agent';
  if (/\/postgres -D /.test(cmdline)) return 'postgresql';
  if (/\/services\/\w+\/src\/main\.ts/.test(cmdline)) return 'service';
  return 'other';
}

/** PostgreSQL's data directory, from its postmaster's command line (`-D <dir>`). */
export function dataDirOf(cmdline: string): string | undefined {
  return /\/postgres -D (\S+)/.exec(cmdline)?.[1];
}
