import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentProcess, stopAgentProcess } from './agent-process.ts';
import { pidAlive as alive } from '@nova/process-kit';

// A real agent process each time; every one is ended by PID in afterEach, whatever a test left.
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

async function agent() {
  const { proc } = await startAgentProcess({
    stateDir: mkdtempSync(join(tmpdir(), 'nova-agent-stop-')),
    token: randomBytes(24).toString('hex'),
  });
  started.push(proc.pid!);
  return proc;
}

describe('stopAgentProcess', () => {
  it('ends an agent that answers SIGTERM, without SIGKILL', async () => {
    const proc = await agent();
    expect(await stopAgentProcess(proc, 10_000)).toBe('exited');
    expect(proc.signalCode).not.toBe('SIGKILL');
    expect(alive(proc.pid!)).toBe(false);
  }, 30_000);

  // Found by the crash campaign's SIGSTOP trials: a stopped agent never acts on SIGTERM, and `chaos run`
  // waited for its exit for ever (2 of 2 trials hung).
  it('SIGKILLs a stopped (hung) agent once the grace is over, instead of waiting for it for ever', async () => {
    const proc = await agent();
    process.kill(proc.pid!, 'SIGSTOP');
    const started = Date.now();
    expect(await stopAgentProcess(proc, 1_000)).toBe('killed');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(5_000);
    expect(proc.signalCode).toBe('SIGKILL');
    expect(alive(proc.pid!)).toBe(false);
  }, 30_000);
});
