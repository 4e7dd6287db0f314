import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leaksAfter, sharedMemory } from '../campaign/leaks.ts';
import { dataDirOf, descendantsOf, roleOf, type ProcessInfo } from '../campaign/processes.ts';
import { reportedResults, signal } from '../campaign/run-report.ts';
import { rssMiB, slopeMiBPerHour, type MemoryPoint } from './memory.ts';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** The CLI's entry (tools/chaos/src/cli.ts). */
  cli: string;
  /** How long the schedule runs, in minutes. */
  minutes: number;
  /** The schedule's period, in seconds (`@every <n>s`). */
  everySeconds: number;
  /** How often memory is read, in seconds. Default 10. */
  sampleSeconds?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What a soak saw. */
export interface SoakResult {
  minutes: number;
  everySeconds: number;
  /** Each scheduled run's verdict, as the controller announced it, in order. */
  verdicts: string[];
  /** How many runs the final report records (each with its verdict). */
  recorded: number;
  /** Runs whose report says a fault was left active. */
  faultsLeft: string[];
  controller: MemoryPoint[];
  agent: MemoryPoint[];
  /** Readings before this (s) are start-up (compiling, pools filling): shown, not in the slope. */
  warmupSeconds: number;
  /** Every pid the agent had (more than one means it was restarted). */
  agentPids: number[];
  /** The controller's exit code after Ctrl-C (null: it did not end). */
  exitCode: number | null;
  /** Everything left behind: processes, data directories, shared memory. */
  leaks: string[];
}

/** A Schedule of the default suite's kind: 150 ms on auth-service for 3 s, every `everySeconds`. */
export function soakSchedule(everySeconds: number): string {
  return `apiVersion: chaos-mesh.org/v1alpha1
kind: Schedule
metadata:
  name: soak-network-delay
  namespace: default
spec:
  schedule: "@every ${everySeconds}s"
  historyLimit: 5
  concurrencyPolicy: Forbid
  type: NetworkChaos
  networkChaos:
    action: delay
    mode: one
    selector:
      namespaces: [default]
      labelSelectors:
        app: auth-service
        chaos.mesh/safe: "true"
    delay:
      latency: "150ms"
    duration: "3s"
`;
}

/**
 * Runs `chaos schedule` (local environment) on an `@every` schedule for `minutes`, reading the resident memory
 * of the controller and the agent as it goes, then interrupts it as a person would (SIGINT) and lists what it
 * left: processes of the run, PostgreSQL's data, shared memory, a fault a run's report says is active, a
 * verdict announced but not recorded. Only processes the soak started are signalled, by PID.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const state = mkdtempSync(join(tmpdir(), 'nova-soak-'));
  const file = join(state, 'soak-schedule.yaml');
  writeFileSync(file, soakSchedule(options.everySeconds));
  const reports = join(state, 'reports');
  const before = sharedMemory();
  const child = spawn(
    process.execPath,
    [
      ...['--conditions=@nova/source', '--import', 'tsx', options.cli, 'schedule', file],
      ...['--output', 'json', '--baseline', '1', '--report-dir', reports],
    ],
    {
      env: { ...process.env, CHAOS_STATE_DIR: state, CHAOS_ACTOR: 'soak', LOG_LEVEL: 'error', CHAOS_ENV: 'local' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const started = Date.now();
  const seconds = (): number => (Date.now() - started) / 1000;
  const verdicts: string[] = [];
  let buffer = '';
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      let event: { type?: string; phase?: string; verdict?: string; experiment?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        continue;
      }
      if (event.type === 'phase' && event.phase === 'done') {
        verdicts.push(event.verdict ?? 'error');
        log(`  ${seconds().toFixed(0)} s: ${event.experiment} ${event.verdict ?? 'error'}`);
      }
    }
  });
  child.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const seen = new Map<string, ProcessInfo>();
  const controller: MemoryPoint[] = [];
  const agent: MemoryPoint[] = [];
  const agentPids = new Set<number>();
  const watch = setInterval(() => {
    for (const p of descendantsOf(child.pid!)) seen.set(`${p.pid}/${p.startTicks}`, p);
  }, 1_000);
  const sample = (): void => {
    const at = seconds();
    const own = rssMiB(child.pid!);
    if (own !== undefined) controller.push({ atSeconds: at, mib: own });
    const a = descendantsOf(child.pid!).find((p) => roleOf(p.cmdline) === 'chaos-agent');
    if (a) {
      agentPids.add(a.pid);
      const mib = rssMiB(a.pid);
      if (mib !== undefined) agent.push({ atSeconds: at, mib });
    }
  };
  const sampler = setInterval(sample, (options.sampleSeconds ?? 10) * 1_000);
  const ended = await Promise.race([
    exited.then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), options.minutes * 60_000)),
  ]);
  clearInterval(sampler);
  const leaks: string[] = [];
  if (ended) leaks.push(`chaos schedule ended by itself after ${seconds().toFixed(0)} s`);
  else {
    log('  interrupting chaos schedule (SIGINT, as Ctrl-C)');
    child.kill('SIGINT');
  }
  const exitCode = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 120_000))]);
  clearInterval(watch);
  const processes = [...seen.values()];
  if (exitCode === undefined) {
    leaks.push('chaos schedule did not end within 120 s of Ctrl-C');
    for (const p of [{ pid: child.pid! }, ...processes]) signal(p.pid, 'SIGKILL');
  }
  const dataDirs = [...new Set(processes.map((p) => dataDirOf(p.cmdline)).filter((d): d is string => !!d))];
  leaks.push(...(await leaksAfter({ processes, dataDirs, before })));
  const results = reportedResults(reports);
  rmSync(state, { recursive: true, force: true });
  return {
    minutes: options.minutes,
    everySeconds: options.everySeconds,
    verdicts,
    recorded: results.length,
    faultsLeft: results.flatMap((x) => (x.faultLeft ? [`${x.name ?? 'a run'}: ${x.faultLeft}`] : [])),
    controller,
    agent,
    warmupSeconds: Math.min(120, (options.minutes * 60) / 4),
    agentPids: [...agentPids],
    exitCode: exitCode ?? null,
    leaks,
  };
}

/** The soak's findings as Markdown (docs/soak.md) and as the lines printed. */
export function soakMarkdown(r: SoakResult, header: { date: string; commit: string; machine: string }): string {
  const fmt = (points: MemoryPoint[]): string => {
    if (points.length === 0) return 'no reading';
    const steady = points.filter((p) => p.atSeconds >= r.warmupSeconds);
    const mibs = points.map((p) => p.mib);
    // The controller keeps a window of samples (at least 15 min) before it drops the oldest: the second half
    // of a 30-minute soak is when it should be flat.
    const half = points.filter((p) => p.atSeconds >= (r.minutes * 60) / 2);
    return `${points[0]!.mib.toFixed(0)} → ${points.at(-1)!.mib.toFixed(0)} MiB (min ${Math.min(...mibs).toFixed(0)}, max ${Math.max(...mibs).toFixed(0)}), slope **${slopeMiBPerHour(steady).toFixed(1)} MiB/h** over the ${steady.length} readings after the first ${r.warmupSeconds.toFixed(0)} s, **${slopeMiBPerHour(half).toFixed(1)} MiB/h** over the second half`;
  };
  const counts = new Map<string, number>();
  for (const v of r.verdicts) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [
    `### ${header.date} · commit ${header.commit} · ${header.machine}`,
    '',
    `\`chaos schedule\` (local) on \`@every ${r.everySeconds}s\` (NetworkChaos delay 150 ms on auth-service for 3 s, under the default load) for ${r.minutes} minutes, then Ctrl-C (SIGINT).`,
    '',
    `- Runs: ${r.verdicts.length} announced (${[...counts].map(([v, n]) => `${n} ${v}`).join(', ') || 'none'}); ${r.recorded} recorded with their verdict in the report.`,
    `- Controller RSS: ${fmt(r.controller)}.`,
    `- Agent RSS: ${fmt(r.agent)}${r.agentPids.length > 1 ? ` (restarted: pids ${r.agentPids.join(', ')})` : ''}.`,
    `- Faults left active (the reports' "no fault left behind" check): ${r.faultsLeft.length === 0 ? 'none' : r.faultsLeft.join('; ')}.`,
    `- After Ctrl-C: exit code ${r.exitCode ?? 'none (did not end)'}; left behind: ${r.leaks.length === 0 ? 'nothing' : r.leaks.join('; ')}.`,
    '',
  ].join('\n');
}
