import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pidAlive as alive } from './pid-alive.ts';

const fixture = fileURLToPath(new URL('../test/fixtures/supervisor.ts', import.meta.url));

/** Starts the supervisor fixture; resolves with its pid and its child's, once the child is started. */
async function supervisor(childDelayMs: number, ipc: boolean): Promise<{ pid: number; child: number }> {
  const proc = spawn(
    process.execPath,
    ['--conditions=@nova/source', '--import', 'tsx', fixture, String(childDelayMs), ipc ? 'ipc' : 'no-ipc'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const child = await new Promise<number>((resolve, reject) => {
    proc.stdout!.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
    proc.once('exit', (code) => reject(new Error(`the supervisor exited with ${code}`)));
  });
  // A vacuous pass is ruled out: the child is a live process when the test starts.
  if (!Number.isInteger(child) || !alive(child)) throw new Error(`the supervisor printed no live child pid: ${child}`);
  return { pid: proc.pid!, child };
}

/** Whether `pid` is still there after `ms`, polled every 50 ms; false as soon as it is gone. */
async function stillAliveAfter(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return alive(pid);
}

describe('onSupervisorGone', () => {
  it('ends a child whose supervisor was SIGKILLed before the child started watching it', async () => {
    const { pid, child } = await supervisor(1_500, true);
    process.kill(pid, 'SIGKILL');
    // The channel closed unheard while the child was "starting"; it must still learn its supervisor is gone.
    const survived = await stillAliveAfter(child, 6_000);
    if (survived) process.kill(child, 'SIGKILL');
    expect(survived).toBe(false);
  }, 20_000);

  it('ends a child that was watching when its supervisor was SIGKILLed', async () => {
    const { pid, child } = await supervisor(0, true);
    await new Promise((r) => setTimeout(r, 1_500)); // the child has loaded and watches
    process.kill(pid, 'SIGKILL');
    const survived = await stillAliveAfter(child, 4_000);
    if (survived) process.kill(child, 'SIGKILL');
    expect(survived).toBe(false);
  }, 20_000);

  it('leaves alone a process nobody supervises (no IPC channel)', async () => {
    const { pid, child } = await supervisor(0, false);
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(pid, 'SIGKILL');
    const survived = await stillAliveAfter(child, 2_000);
    process.kill(child, 'SIGKILL');
    expect(survived).toBe(true);
  }, 20_000);
});
