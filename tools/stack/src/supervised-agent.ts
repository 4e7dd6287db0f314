import type { ChildProcess } from 'node:child_process';
import { WakeableDelay } from '@nova/process-kit';
import { bearer, createAgentClient, heldStoppedPids, unary } from '@nova/proto';
import { startAgentProcess, stopAgentProcess, type AgentProcessOptions } from './agent-process.ts';
import { LivenessProbe, terminateUnresponsive, unresponsiveReason, type LivenessOptions } from './liveness.ts';

/** A lifecycle event of the agent, as the services' supervisor reports theirs. */
export interface AgentLifecycleEvent {
  instance: 'chaos-agent';
  /** `unresponsive`: its liveness probes failed; it is being killed, and `exited` and `restarted` follow. */
  type: 'exited' | 'restarted' | 'unresponsive';
  code: number | null;
  /** Why, for `unresponsive`. */
  reason?: string;
}

/** Options of {@link startSupervisedAgent}. */
export interface SupervisedAgentOptions extends AgentProcessOptions {
  /** Called when the agent exits unasked and when it is back. */
  onLifecycle?: (event: AgentLifecycleEvent) => void;
  /** First wait before a restart, in ms, doubling to 5 000. Default 250. */
  initialBackoffMs?: number;
  /**
   * Its liveness probe: a `ListKinds` call (read-only) with the controller's token. An agent that stops answering
   * (hung, SIGSTOPped) is killed (SIGTERM, SIGKILL after 2 s) and so started again. Default: on, with the
   * defaults of {@link LivenessOptions}; `false` turns it off.
   */
  liveness?: LivenessOptions | false;
}

/** The chaos agent, restarted on its own address whenever it exits unasked. */
export interface SupervisedAgent {
  /** `host:port` it listens on, the same after every restart (the services and controllers keep it). */
  readonly address: string;
  /** The agent's current process. */
  readonly proc: ChildProcess;
  /** Times it was restarted. */
  readonly restarts: number;
  /** Resolves at the next restart (for tests and the crash campaign). */
  restarted(): Promise<void>;
  /**
   * True while the agent holds `pid` stopped (a process-failure fault), as its journal in the state directory
   * says: a supervisor's liveness probe must not take the fault for a hang.
   */
  holdsStopped(pid: number): boolean;
  /**
   * Stops it (SIGTERM: it recovers every fault first; SIGKILL when it has not exited within
   * `AGENT_STOP_GRACE_MS`, 10 s); no restart follows. Resolves with how it ended.
   */
  stop(): Promise<'exited' | 'killed'>;
}

/**
 * Starts the chaos agent and supervises it as a kubelet does a container: when it exits unasked (killed,
 * crashed) it is started again on the same address, backing off from 250 ms to 5 s while starts fail. The
 * services' control streams reconnect to the new agent by themselves and register again; the new agent
 * resumes the processes its journal (the same state directory) says were left stopped, and the services
 * revert their own faults once its heartbeats stop. So a dead agent costs the faults in flight, not the run.
 */
export async function startSupervisedAgent(options: SupervisedAgentOptions): Promise<SupervisedAgent> {
  let current = await startAgentProcess(options);
  const address = current.address;
  let stopping = false;
  let restarts = 0;
  let waiters: Array<() => void> = [];
  /** A restart in progress: stop() waits for it, then stops what it started. */
  let pending: Promise<void> | undefined;
  const initial = options.initialBackoffMs ?? 250;
  const running = (proc: ChildProcess): boolean => proc.exitCode === null && proc.signalCode === null;
  const client = options.liveness === false ? undefined : createAgentClient(address);
  const liveness = client
    ? new LivenessProbe(
        {
          check: (timeoutMs) => unary(client.listKinds.bind(client), {}, bearer(options.token), timeoutMs),
          incarnation: () => (running(current.proc) ? current.proc.pid : undefined),
          onUnresponsive: (failures, lastError) => {
            if (stopping) return;
            const proc = current.proc;
            options.onLifecycle?.({
              instance: 'chaos-agent',
              type: 'unresponsive',
              code: null,
              reason: unresponsiveReason('(ListKinds)', failures, lastError, `killing pid ${proc.pid}`),
            });
            terminateUnresponsive((s) => running(proc) && proc.kill(s));
          },
        },
        options.liveness || {},
      )
    : undefined;

  const watch = (proc: ChildProcess): void => {
    liveness?.start();
    proc.once('exit', (code) => {
      liveness?.stop();
      if (stopping) return;
      options.onLifecycle?.({ instance: 'chaos-agent', type: 'exited', code });
      pending = restart(initial);
    });
  };
  // Waited on by stop() while it sleeps: stop() wakes it, or the emptied event loop would end the process.
  const backoff = new WakeableDelay();
  const restart = async (delay: number): Promise<void> => {
    await backoff.wait(delay);
    if (stopping) return;
    try {
      current = await startAgentProcess({ ...options, listen: address });
    } catch {
      // The port may still be held for a moment, or the start failed: try again, later.
      if (!stopping) await restart(Math.min(5_000, delay * 2));
      return;
    }
    if (stopping) {
      await stopAgentProcess(current.proc);
      return;
    }
    restarts++;
    watch(current.proc);
    options.onLifecycle?.({ instance: 'chaos-agent', type: 'restarted', code: null });
    for (const w of waiters.splice(0)) w();
  };
  watch(current.proc);

  return {
    address,
    get proc() {
      return current.proc;
    },
    get restarts() {
      return restarts;
    },
    restarted: () => new Promise<void>((resolve) => waiters.push(resolve)),
    holdsStopped: (pid) => heldStoppedPids(options.stateDir).has(pid),
    stop: async () => {
      stopping = true;
      liveness?.stop();
      backoff.end();
      waiters = [];
      await pending;
      try {
        return await stopAgentProcess(current.proc);
      } finally {
        client?.close();
      }
    },
  };
}
