import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';

/** What a figure was measured on, recorded beside it. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly node: string;
  /** 1-minute load average when the benchmark started. */
  readonly load1: number;
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  let os = process.platform as string;
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    os = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(release)?.[1] ?? os;
  } catch {
    // not Linux: the platform name will do
  }
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    os,
    node: process.version,
    load1: +loadavg()[0]!.toFixed(2),
  };
}

/** The workspace root (the folder holding `nx.json`) above `from`. */
export function workspaceRoot(from = process.cwd()): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no nx.json above ${from}: run benchmarks inside the workspace`);
  }
}

/** The commit being measured (`abc1234`, `abc1234-dirty` with uncommitted changes, `unknown` outside git). */
export function commitId(root: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/**
 * Pins every thread of process `pid` to one core, with `taskset -a`, so it is not migrated between cores
 * mid-measurement. Threads and child processes created later inherit the mask.
 *
 * @returns whether it worked (false without Linux, taskset or a second core).
 */
export function pinToCore(core: number, pid: number = process.pid): boolean {
  if (process.platform !== 'linux' || cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pins this process to the last core, for single-threaded micro-benchmarks.
 *
 * @returns what was done, for the benchmark's output.
 */
export function pinToOneCore(): string {
  const core = cpus().length - 1;
  return pinToCore(core)
    ? `pinned to core ${core} (taskset -a)`
    : 'not pinned (needs Linux, 2+ cores and taskset from util-linux)';
}

/**
 * For load tests: pins this process to core 0 while it starts the system under test (whose processes
 * inherit core 0), then calls `moveLoadGenerator` to move this process, the load generator, to core 1, so
 * the generator and the system never compete for a core.
 *
 * @returns a function to call once the system under test is up, returning what was done.
 */
export function splitCores(): () => string {
  const pinned = cpus().length >= 2 && pinToCore(0);
  return () =>
    pinned && pinToCore(1)
      ? 'system under test pinned to core 0, load generator (this process) to core 1 (taskset -a)'
      : 'not pinned (needs Linux, 2+ cores and taskset from util-linux)';
}
