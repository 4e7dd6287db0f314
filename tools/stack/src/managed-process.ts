import { spawn, type ChildProcess } from 'node:child_process';

/** Options of {@link ManagedProcess}. */
export interface ManagedProcessOptions {
  /** Name in log lines. */
  name: string;
  /** Extra Node.js options before the entry, e.g. `--cpu-prof` (which NODE_OPTIONS may not carry). */
  nodeArgs?: string[];
  /** TypeScript entry point, run with tsx under the `@nova/source` condition. */
  entry: string;
  env: Record<string, string>;
  /** Receives every output line of the process. */
  onLine?: (line: string) => void;
  /** Called when the process exits (whoever ended it). */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/**
 * One child process we started and own: we know its PID, end it only by that PID, and give it an IPC
 * channel so that it exits by itself if we die.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> = Promise.resolve(null);
  /** The last output lines, for error messages. */
  readonly tail: string[] = [];
  /** True after {@link stop} was called, until the next start: an exit then is not a crash. */
  stoppedOnPurpose = false;

  constructor(readonly options: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  get exited(): Promise<number | null> {
    return this.exit;
  }

  start(): void {
    if (this.running) return;
    this.stoppedOnPurpose = false;
    const child = spawn(
      process.execPath,
      [...(this.options.nodeArgs ?? []), '--conditions=@nova/source', '--import', 'tsx', this.options.entry],
      {
        env: { ...process.env, ...this.options.env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    this.child = child;
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        resolve(code);
        this.options.onExit?.(code, signal);
      }),
    );
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > 50) this.tail.shift();
        this.options.onLine?.(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // Our side of the IPC channel must not keep us alive.
    child.channel?.unref();
    child.unref();
  }

  /** Sends a signal to the process (by its PID); false when it is not running. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running || this.child?.pid === undefined) return false;
    return this.child.kill(signal);
  }

  /** Ends the process: `signal` (SIGTERM), then SIGKILL after `graceMs`. Resolves with its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<number | null> {
    if (!this.running) return this.exit;
    this.stoppedOnPurpose = true;
    // We wait for it now: it must keep our event loop alive until it has exited.
    this.child?.ref();
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}
