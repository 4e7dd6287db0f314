import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/timed-call.ts', import.meta.url));
const run = (mode: string) => {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture, mode], { encoding: 'utf8', timeout: 20_000 });
  return { ...r, ms: Date.now() - started };
};

describe('timeout timer and the process lifetime', () => {
  it('keeps a process alive until a pending timed call is answered with its TimeoutError', () => {
    const r = run('hang');
    expect(r.stdout).toContain('rejected: TimeoutError');
    expect(r.status).toBe(0);
  });

  it('does not keep an idle process alive for the rest of the timeout budget', () => {
    const r = run('idle');
    expect(r.stdout).toContain('resolved: 1');
    expect(r.status).toBe(0);
    // The budget is 60 s; the process must end as soon as its work is done (start-up included).
    expect(r.ms).toBeLessThan(15_000);
  });
});
