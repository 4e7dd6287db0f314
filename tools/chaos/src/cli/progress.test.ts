import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../verdict/load.ts';
import type { PhaseEvent } from '../run/runner.ts';
import { createProgress, doneLine, outputMode, recentFigures, renderLive } from './progress.ts';

const sample = (at: number, latencyMs: number, ok = true): Sample => ({
  at,
  journey: 'login',
  latencyMs,
  ok,
  status: ok ? 200 : 503,
});

/** A stream that keeps what was written, as text. */
function sink(tty = false): PassThrough & { text(): string; isTTY?: boolean; columns?: number } {
  const s = new PassThrough() as PassThrough & { text(): string; isTTY?: boolean; columns?: number };
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  s.text = () => text;
  if (tty) {
    s.isTTY = true;
    s.columns = 200;
  }
  return s;
}

const phases: PhaseEvent[] = [
  { experiment: 'NetworkChaos/delay', phase: 'baseline', at: 0, endsAt: 3_000 },
  { experiment: 'NetworkChaos/delay', phase: 'inject', at: 3_000, detail: 'for 8 s on auth-service (of 1 matching)' },
  { experiment: 'NetworkChaos/delay', phase: 'hold', at: 3_050, endsAt: 11_050 },
  { experiment: 'NetworkChaos/delay', phase: 'recover', at: 11_050 },
  { experiment: 'NetworkChaos/delay', phase: 'verify', at: 11_100, endsAt: 19_100 },
  { experiment: 'NetworkChaos/delay', phase: 'done', at: 12_000, verdict: 'pass' },
];

describe('output mode', () => {
  it('is live on a terminal, plain in CI or a pipe, and --output wins', () => {
    expect(outputMode(undefined, true, {})).toBe('live');
    expect(outputMode(undefined, true, { CI: 'true' })).toBe('plain');
    expect(outputMode(undefined, true, { TERM: 'dumb' })).toBe('plain');
    expect(outputMode(undefined, false, {})).toBe('plain');
    expect(outputMode('json', true, {})).toBe('json');
    expect(() => outputMode('fancy', true, {})).toThrow('--output fancy: expected live, plain, json');
  });
});

describe('live figures', () => {
  it('are the p99 and error rate of the requests started in the last span, not the newest quarter second', () => {
    const samples = [
      sample(500, 900), // before the span
      ...Array.from({ length: 99 }, (_, i) => sample(1_000 + i * 10, 10)),
      sample(2_500, 400, false),
      sample(2_900, 5_000), // newest quarter second: still finishing, left out
    ];
    const f = recentFigures(samples, 3_000, 2_000);
    expect(f).toEqual({ count: 100, p99Ms: 10, errorRate: 0.01, spanMs: 2_000 });
    expect(recentFigures([...samples, sample(2_600, 800)], 3_000, 2_000).p99Ms).toBe(400);
    expect(recentFigures([], 3_000).count).toBe(0);
  });
});

describe('live line', () => {
  it('shows the experiment, its phase, the time left and the load now', () => {
    const line = renderLive({ current: phases[2], done: 2, total: 14 }, 5_850, {
      count: 78,
      p99Ms: 120.4,
      errorRate: 0.004,
      spanMs: 2_000,
    });
    expect(line).toBe(
      '▶ [3/14] NetworkChaos/delay · hold 5.2 s left · load 120 ms p99, 0.4 % errors (last 2 s, 78 req)',
    );
    expect(renderLive({ current: phases[1], done: 0, total: 1 }, 3_010, undefined)).toBe(
      '▶ [1/1] NetworkChaos/delay · inject for 8 s on auth-service (of 1 matching)',
    );
    // A countdown past its end says 0, not a negative time; schedules have no total.
    expect(renderLive({ current: phases[0], done: 4, total: 0 }, 9_000, undefined)).toBe(
      '▶ [5] NetworkChaos/delay · baseline 0.0 s left',
    );
    expect(doneLine({ ...phases[5]!, verdict: 'fail', detail: 'p99 too high' })).toBe(
      '  ✖ FAIL NetworkChaos/delay: p99 too high',
    );
  });
});

describe('progress output', () => {
  it('plain: the log lines runs have always printed, detail lines included', () => {
    const out = sink();
    const p = createProgress('plain', { total: 1, now: () => 0, stdout: out as never });
    p.log('    injected http-delay into auth-service (auth-1)', 'detail');
    for (const e of phases) p.phase(e);
    expect(out.text()).toBe(
      [
        '    injected http-delay into auth-service (auth-1)',
        '  NetworkChaos/delay: baseline 3 s',
        '  NetworkChaos/delay: inject for 8 s on auth-service (of 1 matching)',
        '  NetworkChaos/delay: recovered; verifying',
        '  → PASS NetworkChaos/delay',
        '',
      ].join('\n'),
    );
  });

  it('json: one event per phase change and the run on stdout, people’s lines on stderr', () => {
    const out = sink();
    const err = sink();
    const p = createProgress('json', { total: 1, now: () => 0, stdout: out as never, stderr: err });
    p.log('environment ready');
    p.log('    injected http-delay into auth-service (auth-1)', 'detail');
    for (const e of phases) p.phase(e);
    p.summary('VERDICT table');
    p.finish({ runId: 'r1', exitCode: 0 });
    const events = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.phase ?? e.type)).toEqual([
      'baseline',
      'inject',
      'hold',
      'recover',
      'verify',
      'done',
      'run',
    ]);
    expect(events[2]).toEqual({
      type: 'phase',
      experiment: 'NetworkChaos/delay',
      phase: 'hold',
      at: 3_050,
      endsAt: 11_050,
    });
    expect(events.at(-1)).toEqual({ type: 'run', runId: 'r1', exitCode: 0 });
    expect(err.text()).toBe('environment ready\nVERDICT table\n');
  });

  it('live: redraws one line in place, leaves each verdict and note above it, and ends cleanly', async () => {
    const out = sink(true);
    let now = 3_050;
    const p = createProgress('live', {
      total: 2,
      now: () => now,
      figures: () => ({ count: 40, p99Ms: 31, errorRate: 0, spanMs: 2_000 }),
      stdout: out as never,
      refreshMs: 10,
    });
    p.phase(phases[2]!);
    await new Promise((r) => setTimeout(r, 40));
    now = 6_050;
    await new Promise((r) => setTimeout(r, 40));
    p.log('    injected http-delay into auth-service (auth-1)', 'detail');
    p.log('    note: in-process delay');
    p.phase(phases[5]!);
    p.stop();
    const text = out.text();
    expect(text).toContain('▶ [1/2] NetworkChaos/delay · hold 8.0 s left · load 31 ms p99, 0.0 % errors');
    expect(text).toContain('hold 5.0 s left');
    expect(text).not.toContain('injected http-delay');
    expect(text).toContain('    note: in-process delay\n');
    expect(text).toContain('  ✔ PASS NetworkChaos/delay\n');
    // The live line is erased in place (cursor up, erase line), never scrolled.
    expect(text).toContain(`${String.fromCharCode(27)}[2K`);
    const before = text.length;
    await new Promise((r) => setTimeout(r, 40));
    expect(out.text().length).toBe(before);
  });
});
