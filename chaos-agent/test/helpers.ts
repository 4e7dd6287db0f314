import type { ChildProcess } from 'node:child_process';
import { nodeEntry, OwnedProcess, waitForLine } from '@nova/process-kit';
import { fileURLToPath } from 'node:url';
import { bearer, createAgentClient, unary, type ChaosAgentClient, type Target } from '@nova/proto';
import { request } from 'undici';

export const TOKEN = 'test-token-0123456789abcdef';
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** A child process we started (by the process toolkit), with every line it printed. */
export interface Child {
  proc: ChildProcess;
  output: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function launch(
  entry: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: Child; match: RegExpExecArray }> {
  const output: string[] = [];
  const owned = new OwnedProcess({
    name: entry.split('/').at(-1)!,
    ...nodeEntry(entry, { args }),
    env: { LOG_LEVEL: 'warn', ...env },
    onLine: (line) => output.push(line),
  }).start();
  const match = await waitForLine(owned, ready, 30_000);
  const child: Child = {
    proc: owned.child!,
    output,
    kill: async (signal = 'SIGKILL') => {
      owned.signal(signal);
      await owned.exited;
    },
  };
  return { child, match };
}

/** Starts the agent CLI as a process; resolves once it is listening. */
export async function startAgentProcess(
  listen = '127.0.0.1:0',
  extra: string[] = [],
  tokenFile: string,
): Promise<{ child: Child; address: string }> {
  const { child, match } = await launch(
    here('../src/main.ts'),
    ['--listen', listen, '--token-file', tokenFile, '--heartbeat-grace-ms', '1000', ...extra],
    {},
    /"address":"([^"]+)"/,
  );
  return { child, address: match[1]! };
}

/** Starts the fixture service, registered with the agent at `agentAddress`. */
export async function startTarget(agentAddress: string, name = 'target'): Promise<{ child: Child; url: string }> {
  const { child, match } = await launch(
    here('./fixtures/target-service.ts'),
    [],
    {
      CHAOS_AGENT_ADDR: agentAddress,
      CHAOS_AGENT_TOKEN: TOKEN,
      SERVICE_NAME: name,
      CHAOS_NAMESPACE: 'shop',
    },
    /LISTENING (\S+)/,
  );
  return { child, url: match[1]! };
}

/** Status of GET /ping, or 'error' when the request fails or takes over `timeoutMs`. */
export async function ping(url: string, timeoutMs = 1000): Promise<number | 'error'> {
  try {
    const res = await request(`${url}/ping`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 'error';
  }
}

/** Polls `check` every 25 ms until it returns true; returns the time it took, or throws after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A controller's view of an agent. */
export function controller(address: string): { client: ChaosAgentClient; targets(): Promise<Target[]> } {
  const client = createAgentClient(address);
  return {
    client,
    targets: async () => (await unary(client.listTargets.bind(client), {}, bearer(TOKEN))).targets,
  };
}
