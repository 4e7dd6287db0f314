import { nodeEntry, OwnedProcess } from '@nova/process-kit';

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
 * One of the stack's Node processes: an {@link OwnedProcess} (the process toolkit) running a workspace entry,
 * tied to us by IPC so that it exits by itself if we die.
 */
export class ManagedProcess extends OwnedProcess {
  constructor(options: ManagedProcessOptions) {
    super({ ...options, ...nodeEntry(options.entry, { nodeArgs: options.nodeArgs ?? [] }), ipc: true });
  }
}
