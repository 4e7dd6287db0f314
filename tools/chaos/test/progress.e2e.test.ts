import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The live progress display in a real terminal: the CLI runs inside tmux (a pseudo-terminal, so stdout is a
 * TTY), and the pane is captured as a person would see it, while it runs and at the end. The captures are
 * kept under test-artifacts/.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/short-delay.yaml', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts');
// A tmux server of our own (its own socket): the test never touches a user's sessions, and ends only this one.
const SOCKET = `nova-progress-${process.pid}`;

const tmux = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
};

afterAll(() => {
  tmux('kill-server');
});

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('live progress in a real terminal', () => {
  it('shows one line for the running experiment (phase, countdown, load) and leaves only verdicts behind', async () => {
    if (spawnSync('sh', ['-c', 'command -v tmux']).status !== 0) {
      throw new Error('tmux is required by this test: apt-get install tmux (.ci/run does)');
    }
    const state = mkdtempSync(join(tmpdir(), 'nova-progress-'));
    const reports = mkdtempSync(join(tmpdir(), 'nova-progress-reports-'));
    // CI is unset for the child: in CI the display is plain by default, and here the terminal is the point.
    const command = [
      'env -u CI',
      `CHAOS_STATE_DIR=${shellQuote(state)}`,
      'CHAOS_ACTOR=e2e-test LOG_LEVEL=error TERM=xterm-256color',
      shellQuote(process.execPath),
      '--conditions=@nova/source --import tsx',
      shellQuote(CLI),
      'run',
      shellQuote(FIXTURE),
      '--baseline 2 --rate 30 --seed 11 --report-dir',
      shellQuote(reports),
      '; echo "EXIT=$?"; sleep 600',
    ].join(' ');
    const started = tmux('new-session', '-d', '-s', 'run', '-x', '160', '-y', '40', command);
    expect(started.stderr).toBe('');
    const captures: string[] = [];
    let live: string | undefined;
    let final = '';
    const until = Date.now() + 120_000;
    while (Date.now() < until) {
      const pane = tmux('capture-pane', '-p', '-t', 'run').stdout;
      if (pane !== captures.at(-1)) captures.push(pane);
      if (live === undefined && /· hold \d+\.\d s left · load \d+ ms p99/.test(pane)) live = pane;
      if (/EXIT=\d+/.test(pane)) {
        final = pane;
        break;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'progress-live.txt'), captures.join('\n---- next capture ----\n'));
    expect(final, captures.at(-1)).toMatch(/EXIT=0/);
    // While the fault held: one line, in place, with the phase, the time left and the load measured now.
    expect(live, 'no capture showed the hold phase with its countdown').toMatch(
      /▶ \[1\/1\] NetworkChaos\/short-delay-auth · hold \d\.\d s left · load \d+ ms p99, \d+\.\d % errors \(last 2 s, \d+ req\)/,
    );
    const liveLines = live!.split('\n').filter((l) => l.startsWith('▶'));
    expect(liveLines).toHaveLength(1);
    // Afterwards: the verdict left behind, then the table; no phase log lines, no per-fault lines scrolled by.
    expect(final).toContain('✔ PASS NetworkChaos/short-delay-auth');
    expect(final).toMatch(/PASS\s+NetworkChaos\/short-delay-auth/);
    expect(final).not.toMatch(/: baseline 2 s|recovered; verifying|injected http-delay|▶/);
  }, 150_000);
});
