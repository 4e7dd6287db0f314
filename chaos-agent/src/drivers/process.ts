import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  catalogued,
  FaultSpecError,
  type EmptySpec,
  type FaultEffect,
  type FaultLayer,
  type KillSpec,
} from '@nova/faults';
import type { Target } from '@nova/proto';
import type { FailureJournal } from './failure-journal.ts';

/** Is a process with this PID alive (and ours to signal)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The layers the agent's own drivers act at (in-process kinds are the services' own, in `@nova/faults`). */
export type DriverLayer = Exclude<FaultLayer, 'in-process'>;

/** A process-level fault on one target PID; `undo` reverts it (idempotent). */
export interface ProcessInjection {
  undo(): Promise<void>;
  /** Resolves when the fault is over by itself (a kill completes; a failure lasts until undone). */
  readonly settled: Promise<void>;
  /**
   * What the fault did, observed at the target (the process gone, stopped; rule counters read before the
   * rules were deleted). Read after `undo` or `settled`; none means nothing was measured.
   */
  effect?(): FaultEffect;
}

/**
 * A fault kind the agent applies itself (to a target's process, container or network namespace), as
 * opposed to the in-process kinds it delegates to the service. `apply` may be async; it must either apply
 * the whole fault or throw having applied nothing.
 */
export interface ProcessDriver<Spec> {
  readonly kind: string;
  /** Where the fault acts: a target's process (signals), its container (Docker) or its network namespace (kernel). */
  readonly layer: DriverLayer;
  readonly description: string;
  /** The fault holds the target down (stopped, paused): it outlives the target's control stream. */
  readonly holdsTarget?: boolean;
  parse(spec: unknown): Spec;
  apply(
    target: Target,
    spec: Spec,
    leaseMs: number,
    faultId: string,
    ctx?: ApplyContext,
  ): ProcessInjection | Promise<ProcessInjection>;
}

/** What the agent knows of a target from its connection, not from its claims. */
export interface ApplyContext {
  /** Where the target's control stream comes from (`ip:port`). */
  peer: string;
  /** The pid the kernel says holds that stream, when the agent could see it. */
  verifiedPid: number | undefined;
}

/**
 * The pid a process-level fault may signal: the one the agent resolved from the target's connection, never
 * the one the target claimed (a claim let any caller kill any process, or a process group with a negative pid).
 */
export function verifiedPid(kind: string, ctx: ApplyContext | undefined): number {
  const pid = ctx?.verifiedPid;
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) {
    throw new FaultSpecError(
      kind,
      '(target)',
      "the target's process could not be verified from its connection to the agent, so it is not signalled (process faults need the service on this host, in the agent's network namespace)",
    );
  }
  return pid;
}

/** A fault that lasts until undone; `undo` runs once however often it is called. */
export function lastingInjection(undo: () => Promise<void>, effect?: () => FaultEffect): ProcessInjection {
  let undone: Promise<void> | undefined;
  return {
    settled: new Promise(() => {}),
    undo: () => (undone ??= undo()),
    ...(effect ? { effect } : {}),
  };
}

/** The state letter of a process (`R`, `S`, `T` stopped, `Z`...) from /proc/<pid>/stat; undefined when gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * PodChaos pod-kill / container-kill: the signal (SIGTERM by default), then SIGKILL once `gracePeriodMs` has
 * passed if the process still runs. The supervisor (local env) or kubelet restarts it.
 */
export const processKill: ProcessDriver<KillSpec> = {
  ...catalogued('process-kill'),
  apply(_target, spec, _leaseMs, _faultId, ctx) {
    const pid = verifiedPid('process-kill', ctx);
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const signalledAt = performance.now();
    // What was observed: the process gone (after how long), and whether SIGKILL had to follow.
    let goneAfterMs: number | undefined;
    let escalated = false;
    let signalled = true;
    const settled = new Promise<void>((resolve) => {
      try {
        process.kill(pid, spec.signal);
      } catch {
        signalled = false;
        resolve();
        return;
      }
      poll = setInterval(() => {
        if (!alive(pid)) {
          goneAfterMs = performance.now() - signalledAt;
          clearInterval(poll);
          clearTimeout(timer);
          resolve();
        }
      }, 20);
      timer = setTimeout(() => {
        if (alive(pid)) {
          try {
            process.kill(pid, 'SIGKILL');
            escalated = spec.signal !== 'SIGKILL';
          } catch {
            // gone meanwhile
          }
        }
      }, spec.gracePeriodMs);
    });
    return {
      settled,
      // A kill cannot be undone; stopping the grace timer is all there is. The target's control stream
      // often ends (and the agent recovers) a moment before the process is gone: watch up to 1 s for the exit.
      undo: async () => {
        await Promise.race([settled, new Promise((r) => setTimeout(r, 1_000))]);
        clearTimeout(timer);
        clearInterval(poll);
      },
      effect: () => killEffect(`pid ${pid}`, spec.signal, signalled, goneAfterMs, escalated),
    };
  },
};

/** The effect of a kill: the target seen gone after the signal (and SIGKILL, if the grace ran out). */
export function killEffect(
  what: string,
  signal: string,
  signalled: boolean,
  goneAfterMs: number | undefined,
  escalated: boolean,
): FaultEffect {
  if (!signalled) return { took: false, summary: `${what} was already gone: no signal delivered`, figures: {} };
  if (goneAfterMs === undefined)
    return {
      took: false,
      summary: `${what} still running after ${signal}${escalated ? ' and SIGKILL' : ''}`,
      figures: { escalated: Number(escalated) },
    };
  return {
    took: true,
    summary: `${what} gone ${Math.round(goneAfterMs)} ms after ${signal}${escalated ? ' (SIGKILL followed at the end of the grace period)' : ''}`,
    figures: { goneAfterMs: Math.round(goneAfterMs), escalated: Number(escalated) },
  };
}

/**
 * PodChaos pod-failure: the process is held down (SIGSTOP) for the duration, then resumed (SIGCONT). The
 * lease is also enforced by a small detached watchdog process, so a crashed agent cannot leave a service
 * stopped past its lease; a restarted agent resumes leftovers from its journal at once.
 */
export function processFailure(journal: FailureJournal): ProcessDriver<EmptySpec> {
  return {
    ...catalogued('process-failure'),
    holdsTarget: true,
    apply(_target, _spec, leaseMs, _faultId, ctx) {
      const pid = verifiedPid('process-failure', ctx);
      if (!alive(pid)) throw new FaultSpecError('process-failure', '(target)', `process ${pid} is not running`);
      const watchdog = spawn(
        process.execPath,
        ['-e', `setTimeout(() => { try { process.kill(${pid}, 'SIGCONT') } catch {} }, ${Math.ceil(leaseMs)})`],
        { detached: true, stdio: 'ignore' },
      );
      watchdog.unref();
      process.kill(pid, 'SIGSTOP');
      const stoppedAt = performance.now();
      void journal.add(pid);
      // Seen stopped: the state letter is T once the signal is delivered (at most a few ms later).
      let seenStopped = false;
      const look = setInterval(() => {
        if (processState(pid) === 'T') seenStopped = true;
        if (seenStopped) clearInterval(look);
      }, 5);
      look.unref();
      let stoppedMs: number | undefined;
      return lastingInjection(
        async () => {
          clearInterval(look);
          if (processState(pid) === 'T') seenStopped = true;
          stoppedMs = performance.now() - stoppedAt;
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            // gone: nothing to resume
          }
          if (watchdog.pid !== undefined && watchdog.exitCode === null) watchdog.kill('SIGKILL');
          await journal.remove(pid);
        },
        () => ({
          took: seenStopped,
          summary: seenStopped
            ? `pid ${pid} stopped (state T) for ${((stoppedMs ?? performance.now() - stoppedAt) / 1000).toFixed(1)} s`
            : `pid ${pid} was never seen stopped`,
          figures: {
            stoppedMs: Math.round(stoppedMs ?? performance.now() - stoppedAt),
            seenStopped: Number(seenStopped),
          },
        }),
      );
    },
  };
}
