import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { eachLine } from '@nova/process-kit';
import { dockerLeaks, networks, runContainers, signalContainer } from './containers.ts';
import { leaksAfter, sharedMemory } from './leaks.ts';
import { reportedResults, signal } from './run-report.ts';
import { dataDirOf, descendantsOf, roleOf, type ProcessInfo } from './processes.ts';

/** What a trial kills: the controller itself, or one part of the environment it started. */
export const VICTIMS = ['controller', 'chaos-agent', 'service', 'postgresql'] as const;
export type Victim = (typeof VICTIMS)[number];

/**
 * What a trial does to its victim: SIGKILL (a crash) or SIGSTOP (a hang: the process is there, holds its
 * sockets and answers nothing). A stopped controller is continued after {@link TrialPlan.pauseMs} (a frozen
 * laptop, a long GC pause); any other stopped part stays stopped, and the run has to notice and end without it.
 */
export const SIGNALS = ['SIGKILL', 'SIGSTOP'] as const;
export type TrialSignal = (typeof SIGNALS)[number];

/** One trial, drawn from the campaign's seed. */
export interface TrialPlan {
  index: number;
  /** The experiment file `chaos run` runs. */
  experiment: string;
  victim: Victim;
  signal: TrialSignal;
  /** When, after the fault was injected, the victim is signalled, in ms. */
  delayMs: number;
  /** How long a stopped controller stays stopped before SIGCONT, in ms. */
  pauseMs: number;
  /** Which service, when the victim is one: an index into the run's services. */
  pick: number;
}

/** What a trial saw. */
export interface TrialOutcome {
  plan: TrialPlan;
  /** What was signalled (`user-service pid 123`), or why nothing was. */
  killed: string;
  /** `chaos run`'s exit code; null when it was killed or hung. */
  exitCode: number | null;
  /** The experiment's verdict from the run's report, when the controller lived to write one. */
  verdict: string | undefined;
  /** Everything left behind, each named; empty is the goal. */
  leaks: string[];
  durationSeconds: number;
  /**
   * The last lines the run printed (stderr lines marked `!`), kept when its end needs explaining (see
   * {@link needsExplaining}); else undefined.
   */
  tail?: string[];
}

/** Lines of a run's output a trial keeps, the newest. */
export const TAIL_LINES = 40;

/**
 * Whether a trial's end needs its run's output to be understood: the run hung, left something behind, or
 * ended without a verdict although its controller was not the one SIGKILLed (a SIGKILLed controller writes no
 * report by design). Without the output, such an end can only be guessed at (docs/reliability-containers-stop.md,
 * trial 14).
 */
export function needsExplaining(o: Pick<TrialOutcome, 'plan' | 'exitCode' | 'verdict' | 'leaks'>): boolean {
  if (o.exitCode === null || o.leaks.length > 0) return true;
  const controllerKilled = o.plan.victim === 'controller' && o.plan.signal === 'SIGKILL';
  return o.verdict === undefined && !controllerKilled;
}

/** How a trial runs `chaos run`. */
export interface TrialOptions {
  /** The CLI's entry (tools/chaos/src/cli.ts). */
  cli: string;
  /** local: every part is a process of the run; containers: PostgreSQL and the services are its containers. */
  env: 'local' | 'containers';
  /** A run that takes longer is hung (a leak): its processes are killed, by PID. Default 150 s (300 in containers). */
  timeoutMs?: number;
}

/**
 * Runs one experiment with `chaos run` in a state directory of its own, SIGKILLs or SIGSTOPs the victim `delayMs`
 * after the fault is injected, waits for the run to end, and lists what it left: processes of the run, PostgreSQL's
 * data directory, shared memory, a fault still active (the report's "no fault left behind" check), a run that
 * never ended. Every process watched is one the run started; only those are signalled, by PID.
 */
export async function runTrial(plan: TrialPlan, options: TrialOptions): Promise<TrialOutcome> {
  const started = Date.now();
  const state = mkdtempSync(join(tmpdir(), 'nova-campaign-'));
  const reports = join(state, 'reports');
  const before = sharedMemory();
  const networksBefore = options.env === 'containers' ? networks() : new Set<string>();
  const timeoutMs = options.timeoutMs ?? (options.env === 'containers' ? 300_000 : 150_000);
  const seen = new Map<string, ProcessInfo>();
  const child = spawn(
    process.execPath,
    [
      ...['--conditions=@nova/source', '--import', 'tsx', options.cli, 'run', plan.experiment],
      ...['--baseline', '1', '--report-dir', reports],
    ],
    {
      env: {
        ...process.env,
        CHAOS_STATE_DIR: state,
        CHAOS_ACTOR: 'campaign',
        LOG_LEVEL: 'error',
        CHAOS_ENV: options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const controller: ProcessInfo = { pid: child.pid!, cmdline: 'chaos run', startTicks: 0 };
  // The run's processes, as they come and go (a restarted part is a new process): all must be gone at the end.
  const watch = setInterval(() => {
    for (const p of descendantsOf(child.pid!)) seen.set(`${p.pid}/${p.startTicks}`, p);
  }, 200);
  let killed = 'nothing: the run ended before the moment came';
  let injected = false;
  const onLine = (line: string): void => {
    if (injected || !/: inject for /.test(line)) return;
    injected = true;
    setTimeout(() => (killed = strike(plan, child.pid!, options.env)), plan.delayMs).unref();
  };
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  eachLine(child.stdout!, (line) => {
    keep(line);
    onLine(line);
  });
  eachLine(child.stderr!, (line) => keep(`! ${line}`));
  const exit = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(-1), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  // Its last lines may still be in the pipes: wait for them, briefly (a process it left behind may hold them open).
  if (exit !== -1) await Promise.race([closed, new Promise((r) => setTimeout(r, 1_000))]);
  clearInterval(watch);
  const processes = [...seen.values()];
  const leaks: string[] = [];
  if (exit === -1) {
    leaks.push(`chaos run did not end within ${timeoutMs / 1000} s`);
    for (const p of [controller, ...processes]) signal(p.pid, 'SIGKILL');
  }
  const dataDirs = [...new Set(processes.map((p) => dataDirOf(p.cmdline)).filter((d): d is string => !!d))];
  leaks.push(...(await leaksAfter({ processes, dataDirs, before })));
  if (options.env === 'containers') leaks.push(...(await dockerLeaks(child.pid!, networksBefore)));
  const report = reportedResults(reports)[0];
  if (report?.faultLeft) leaks.push(`a fault left active: ${report.faultLeft}`);
  rmSync(state, { recursive: true, force: true });
  const outcome: TrialOutcome = {
    plan,
    killed,
    exitCode: exit === -1 ? null : exit,
    verdict: report?.verdict,
    leaks,
    durationSeconds: (Date.now() - started) / 1000,
  };
  return needsExplaining(outcome) ? { ...outcome, tail } : outcome;
}

/**
 * Sends the plan's signal to its victim among the run's processes (or, in containers, to its container's main
 * process); says what it signalled. A stopped controller is continued after the plan's pause.
 */
function strike(plan: TrialPlan, controllerPid: number, env: TrialOptions['env']): string {
  if (plan.victim === 'controller') {
    if (!signal(controllerPid, plan.signal)) return 'nothing: the run had ended';
    if (plan.signal === 'SIGSTOP') setTimeout(() => signal(controllerPid, 'SIGCONT'), plan.pauseMs).unref();
    return `controller pid ${controllerPid}`;
  }
  if (env === 'containers' && plan.victim !== 'chaos-agent') {
    const candidates = runContainers(controllerPid).filter((c) => c.role === plan.victim);
    const victim = candidates[plan.pick % Math.max(1, candidates.length)];
    if (!victim) return `nothing: no ${plan.victim} container was running`;
    return signalContainer(victim.name, plan.signal)
      ? `container ${victim.name}`
      : `nothing: ${victim.name} had stopped`;
  }
  const candidates = descendantsOf(controllerPid).filter((p) => roleOf(p.cmdline) === plan.victim);
  const victim = candidates[plan.pick % Math.max(1, candidates.length)];
  if (!victim) return `nothing: no ${plan.victim} was running`;
  const name = plan.victim === 'service' ? basename(victim.cmdline.split('/src/main.ts')[0]!) : plan.victim;
  return signal(victim.pid, plan.signal) ? `${name} pid ${victim.pid}` : `nothing: ${name} had exited`;
}
