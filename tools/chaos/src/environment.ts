import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bearer, createAgentClient, unary, type ChaosAgentClient, type Target } from '@nova/proto';
import { startStack, type Stack } from '@nova/stack';

const AGENT_MAIN = fileURLToPath(new URL('../../../chaos-agent/src/main.ts', import.meta.url));

/** The running local environment: PostgreSQL, the agent, the services (supervised), all ours. */
export interface LocalEnvironment {
  readonly stack: Stack;
  readonly agent: { address: string; token: string; client: ChaosAgentClient; process: ChildProcess };
  readonly stateDir: string;
  /** The agent's registered targets. */
  targets(): Promise<Target[]>;
  /** The data directory of the service instance registered as `target` (its data volume locally). */
  dataDirOf(target: Target): string | undefined;
  stop(): Promise<void>;
}

/** Options of {@link startLocalEnvironment}. */
export interface LocalEnvironmentOptions {
  stateDir: string;
  userReplicas?: number;
  onLine?: (source: string, line: string) => void;
  onLifecycle?: (event: { instance: string; type: 'exited' | 'restarted'; code: number | null }) => void;
  env?: Record<string, string>;
}

/** Starts the agent as a child process (IPC-tied: it recovers and exits if we die); resolves when listening. */
async function startAgentProcess(stateDir: string, token: string, onLine?: (l: string) => void): Promise<{ proc: ChildProcess; address: string }> {
  const tokenFile = join(stateDir, 'agent-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const proc = spawn(
    process.execPath,
    ['--conditions=@nova/source', '--import', 'tsx', AGENT_MAIN, '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--state-dir', stateDir, '--audit-log', join(stateDir, 'agent-audit.jsonl')],
    { env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  proc.channel?.unref();
  proc.unref();
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (c: Buffer): void => {
      buffered += c.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /"msg":"ready","address":"([^"]+)"/.exec(line);
        if (m) resolve({ proc, address: m[1]! });
        else onLine?.(line);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`chaos-agent exited during start-up with code ${code}`)));
  });
}

/**
 * The `local` environment: embedded PostgreSQL (or `DATABASE_URL`), the chaos agent, and the three services
 * as supervised processes on loopback (user-service with 2 replicas so a kill is survivable), each
 * registered with the agent. Everything is started by us and stopped by us, by PID.
 */
export async function startLocalEnvironment(options: LocalEnvironmentOptions): Promise<LocalEnvironment> {
  mkdirSync(options.stateDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  const agentProc = await startAgentProcess(options.stateDir, token, (l) => options.onLine?.('chaos-agent', l));
  const client = createAgentClient(agentProc.address);
  const md = bearer(token);
  let stack: Stack;
  try {
    stack = await startStack({
      userReplicas: options.userReplicas ?? 2,
      chaosAgent: { address: agentProc.address, token },
      dataRoot: join(options.stateDir, 'data'),
      supervise: true,
      onLifecycle: options.onLifecycle,
      env: { LOG_LEVEL: 'error', ...options.env },
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
  } catch (error) {
    agentProc.proc.kill('SIGTERM');
    client.close();
    throw error;
  }
  const targets = async (): Promise<Target[]> => (await unary(client.listTargets.bind(client), {}, md)).targets;
  // Wait until every service instance has registered with the agent.
  const deadline = Date.now() + 20_000;
  while ((await targets()).length < stack.instances.length) {
    if (Date.now() > deadline) throw new Error('services did not register with the chaos agent within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    stack,
    agent: { address: agentProc.address, token, client, process: agentProc.proc },
    stateDir: options.stateDir,
    targets,
    dataDirOf: (target) => stack.instances.find((i) => i.process.pid === target.pid)?.dataDir,
    stop: async () => {
      await stack.stop();
      if (agentProc.proc.exitCode === null && agentProc.proc.signalCode === null) {
        const exited = new Promise((r) => agentProc.proc.once('exit', r));
        agentProc.proc.ref();
        agentProc.proc.kill('SIGTERM');
        await exited;
      }
      client.close();
    },
  };
}
