// `npx nx k6`: the journeys scenario of tools/k6 through the controller. Starts the local environment with
// `chaos up`, runs the journeys with a fault of the default suite (FAULT, default network-delay-auth) through
// the real k6, prints the per-phase summary, and stops everything. Exit code: k6's (99 when a threshold failed).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOURNEYS_SCRIPT, k6Binary } from '@nova/k6';
import { nodeEntry, OwnedProcess, waitForLine } from '@nova/process-kit';

// The controller's own CLI: this command drives `chaos up` as a user would.
const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

/** Runs `chaos up` in `state`; resolves once it is up, with its state and a way to stop it. */
export async function chaosUp(state: string): Promise<{
  up: { api: string; apiToken: string; agent: string; token: string; services: Array<{ name: string; url: string }> };
  stop(): Promise<void>;
}> {
  const proc = new OwnedProcess({
    name: 'chaos up',
    ...nodeEntry(CLI, { args: ['up'] }),
    env: { CHAOS_STATE_DIR: state, CHAOS_ACTOR: process.env['CHAOS_ACTOR'] ?? 'k6' },
    // Its errors show as they come (it prints the state it wrote, then "up." once everything listens).
    onLine: (line) => {
      if (/error|fail/i.test(line)) console.error(line);
    },
  }).start();
  await waitForLine(proc, /^up\./, 180_000);
  return {
    up: JSON.parse(readFileSync(join(state, 'up.json'), 'utf8')),
    stop: async () => void (await proc.stop('SIGTERM', 30_000)),
  };
}

/** Runs the journeys script with k6 against a running `chaos up`; resolves with k6's exit code. */
export function runK6(
  up: Awaited<ReturnType<typeof chaosUp>>['up'],
  env: Record<string, string>,
  onStart?: (pid: number) => void,
): Promise<number | null> {
  const url = (name: string): string =>
    up.services
      .filter((s) => s.name === name || s.name.startsWith(`${name}-`))
      .map((s) => s.url)
      .join(',');
  const proc = spawn(k6Binary(), ['run', '--quiet', '--no-usage-report', JOURNEYS_SCRIPT], {
    env: {
      ...process.env,
      USER_URL: url('user-service'),
      AUTH_URL: url('auth-service'),
      MESSAGING_URL: url('messaging-service'),
      CHAOS_API: up.api,
      CHAOS_API_TOKEN: up.apiToken,
      ...env,
    },
    stdio: 'inherit',
  });
  onStart?.(proc.pid!);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const state = mkdtempSync(join(tmpdir(), 'nova-k6-'));
  k6Binary();
  console.log('starting the local environment (chaos up)...');
  const { up, stop } = await chaosUp(state);
  let code: number | null = 1;
  try {
    code = await runK6(up, {
      FAULT: process.env['FAULT'] ?? 'network-delay-auth',
      SUMMARY_JSON: process.env['SUMMARY_JSON'] ?? join(state, 'k6-summary.json'),
    });
  } finally {
    await stop();
  }
  process.exit(code ?? 1);
}
