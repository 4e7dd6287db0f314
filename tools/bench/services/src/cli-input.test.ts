import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Bad input to the services benchmark and the profiler: a clear message and exit 2, before any stack starts. */
describe('services benchmark and profiler, bad input', () => {
  const run = (file: string, ...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--conditions=@nova/source', '--import', 'tsx', join(import.meta.dirname, file), ...args],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );

  it.each([
    ['profile.ts', ['--route', 'put'], 'profile: --route must be get, post or both, got put'],
    ['profile.ts', ['--seconds', '0'], 'profile: --seconds must be within 1–60, got 0'],
    ['profile.ts', ['--bogus'], "profile: Unknown option '--bogus'"],
    ['services.bench.ts', ['--chek'], "bench: Unknown option '--chek'"],
    ['services.bench.ts', ['--rounds', 'x'], 'bench: --rounds must be a whole number ≥ 1, got x'],
  ])('%s %j', (file, args, message) => {
    const out = run(file, ...args);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain(message);
    expect(out.stderr).toContain('usage: npx nx');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});
