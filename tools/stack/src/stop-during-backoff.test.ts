import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// A supervisor stopped while it sleeps before a restart must finish its stop. Its backoff timer does not keep
// the process alive (unref'd), so a stop that merely waited for it let the event loop empty: the process
// exited mid-stop, and `chaos run`, which writes its reports after the environment's stop, wrote none (a
// SIGSTOP trial in containers found it: the agent killed by its liveness probe just as the run ended).
const FIXTURE = fileURLToPath(new URL('../test/fixtures/stop-during-backoff.ts', import.meta.url));

describe('the supervised agent stopped during its restart backoff', () => {
  it('finishes its stop: the process does not exit before it', () => {
    const r = spawnSync(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', FIXTURE], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout + r.stderr).toContain('stopped (exited)');
    expect(r.status).toBe(0);
  }, 70_000);
});
