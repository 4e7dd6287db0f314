import { spawn, type ChildProcess } from 'node:child_process';
import { eachLine } from './lines.ts';
import { SUPERVISED_ENV } from './supervisor.ts';

/** Options of {@link OwnedProcess}. */
export interface OwnedProcessOptions {
  /** Name in errors and log lines. */
  name: string;
  command: string;
  args: readonly string[];
  /** Added to our environment. */
  env?: Record<string, string>;
  /**
   * Give the child an IPC channel (Node children): a child that watches it (`onSupervisorGone`) exits by
   * itself if we die, so nothing we started outlives us.
   */
  ipc?: boolean;
  /** Receives every output line (stdout and stderr). */
  onLine?: (line: string) => void;
  /** Called when the process exits, whoever ended it. */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** How many output lines a process keeps for error messages. */
const TAIL_LINES = 50;

/**
 * A child process we started and own: we know its PID, signal it only by that PID, keep its last output
 * lines for errors, and can start it again after it exits (a supervisor's restart). It never keeps our
 * event loop alive unless we are waiting for it to stop.
 */
export class OwnedProcess {
  private current: ChildProcess | undefined;
  private ended = true;
  private exit: Promise<number | null> = Promise.resolve(null);
  private readonly listeners = new Set<(line: string) => void>();
  /** The last output lines, for error messages. */
  readonly tail: string[] = [];
  /** True after {@link stop} was called, until the next start: an exit then is not a crash. */
  stoppedOnPurpose = false;

  constructor(readonly options: OwnedProcessOptions) {}

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** The running (or last) child. */
  get child(): ChildProcess | undefined {
    return this.current;
  }

  get running(): boolean {
    return this.current !== undefined && !this.ended;
  }

  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  get exited(): Promise<number | null> {
    return this.exit;
  }

  /** Starts the process (again, after an exit); a no-op while it runs. */
  start(): this {
    if (this.running) return this;
    this.stoppedOnPurpose = false;
    const child = spawn(this.options.command, [...this.options.args], {
      env: {
        ...process.env,
        ...this.options.env,
        ...(this.options.ipc ? { [SUPERVISED_ENV]: String(process.pid) } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe', ...(this.options.ipc ? (['ipc'] as const) : [])],
    });
    this.current = child;
    this.ended = false;
    let settle: (code: number | null) => void = () => undefined;
    this.exit = new Promise((resolve) => (settle = resolve));
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (this.current !== child || this.ended) return;
      this.ended = true;
      settle(code);
      this.options.onExit?.(code, signal);
    };
    child.once('exit', onExit);
    // A spawn failure (no such command) ends the process with no code, not in an unhandled error.
    child.on('error', (error) => {
      this.line(`${this.options.name}: ${error.message}`);
      if (child.pid === undefined) onExit(null, null);
    });
    const onLine = (line: string): void => this.line(line);
    eachLine(child.stdout!, onLine);
    eachLine(child.stderr!, onLine);
    // Our side of the IPC channel must not keep us alive.
    child.channel?.unref();
    child.unref();
    return this;
  }

  private line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.options.onLine?.(line);
    for (const l of this.listeners) l(line);
  }

  /** Calls `listener` for each line from now on; returns how to stop listening. */
  onLine(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a signal to the process (by its PID); false when it is not running. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running || this.current?.pid === undefined) return false;
    return this.current.kill(signal);
  }

  /** Ends the process: `signal` (SIGTERM), then SIGKILL after `graceMs`. Resolves with its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<number | null> {
    if (!this.running) return this.exit;
    this.stoppedOnPurpose = true;
    // We wait for it now: it must keep our event loop alive until it has exited.
    this.current?.ref();
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A TypeScript entry point of this workspace, run by Node with tsx under the `@nova/source` condition:
 * `nodeArgs` go to Node (`--cpu-prof`), `args` to the program.
 */
export function nodeEntry(
  entry: string,
  opts: { nodeArgs?: readonly string[]; args?: readonly string[] } = {},
): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [...(opts.nodeArgs ?? []), '--conditions=@nova/source', '--import', 'tsx', entry, ...(opts.args ?? [])],
  };
}
