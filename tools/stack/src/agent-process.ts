import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { nodeEntry, OwnedProcess, waitForLine } from '@nova/process-kit';

// Through the agent package's exports (a dependency in package.json), so Nx sees that the stack runs it.
const AGENT_MAIN = createRequire(import.meta.url).resolve('@nova/chaos-agent/main');
/** The line the agent prints once it listens, with its bound address. */
const READY = /"msg":"ready","address":"([^"]+)"/;

/** Options of {@link startAgentProcess}. */
export interface AgentProcessOptions {
  /** Journal, token file and audit log go here. */
  stateDir: string;
  /** The controllers' token. */
  token: string;
  /** The services' token (may only register); give it to the services, never the controllers' one. */
  serviceToken?: string;
  /** `host:port` to listen on; default `127.0.0.1:0` (any free port). */
  listen?: string;
  /** Enable the Docker and kernel drivers (`--docker`). */
  docker?: boolean;
  /** Every log line the agent prints. */
  onLine?: (line: string) => void;
}

/**
 * Starts the chaos agent as a child process tied to us by IPC (if we die, it recovers every fault and exits)
 * and resolves with its bound address once it listens.
 */
export async function startAgentProcess(
  options: AgentProcessOptions,
): Promise<{ proc: ChildProcess; address: string }> {
  const tokenFile = join(options.stateDir, 'agent-token');
  writeFileSync(tokenFile, options.token, { mode: 0o600 });
  const args = [
    '--listen',
    options.listen ?? '127.0.0.1:0',
    '--token-file',
    tokenFile,
    '--state-dir',
    options.stateDir,
    '--audit-log',
    join(options.stateDir, 'agent-audit.jsonl'),
  ];
  if (options.docker) args.push('--docker');
  // We start the services too: only our descendants may register as targets, each as the identity we
  // minted for it (its token), never as one it names itself.
  args.push('--trusted-ancestor', String(process.pid), '--require-identity');
  if (options.serviceToken !== undefined) {
    const serviceTokenFile = join(options.stateDir, 'agent-service-token');
    writeFileSync(serviceTokenFile, options.serviceToken, { mode: 0o600 });
    args.push('--service-token-file', serviceTokenFile);
  }
  const agent = new OwnedProcess({
    name: 'chaos-agent',
    ...nodeEntry(AGENT_MAIN, { args }),
    env: { LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' },
    ipc: true,
    onLine: (line) => {
      if (!READY.test(line)) options.onLine?.(line);
    },
  }).start();
  const ready = await waitForLine(agent, READY, 60_000);
  return { proc: agent.child!, address: ready[1]! };
}

/** How long an agent gets after SIGTERM to recover its faults and exit before it is SIGKILLed, in ms. */
export const AGENT_STOP_GRACE_MS = 10_000;

/**
 * Stops an agent started by {@link startAgentProcess}: SIGTERM (it recovers every fault first), then SIGKILL
 * when it has not exited within `graceMs`. A hung or stopped (SIGSTOP) agent never acts on SIGTERM, and
 * waiting for its exit kept `chaos run` from ever ending. Resolves with how it ended: `killed` means it could
 * not recover its faults itself; its journal in the state directory names them for the next agent there.
 */
export async function stopAgentProcess(
  proc: ChildProcess,
  graceMs = AGENT_STOP_GRACE_MS,
): Promise<'exited' | 'killed'> {
  if (proc.exitCode !== null || proc.signalCode !== null) return 'exited';
  const exited = new Promise<'exited'>((r) => proc.once('exit', () => r('exited')));
  proc.ref();
  proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'exited') return 'exited';
  proc.kill('SIGKILL');
  await exited;
  return 'killed';
}
