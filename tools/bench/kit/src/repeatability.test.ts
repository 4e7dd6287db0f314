import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from './report.ts';
import { compareRuns, formatGap, renderRepeatability, resultFromOutput } from './repeatability.ts';

type Interval = readonly [number, number];

/** A result with one figure per entry: [median, bootstrap CI, next-run interval or null]. */
function result(
  figures: Record<string, { unit?: string; median: number; ci: Interval; nextRun: Interval | null }>,
  bench = 'demo',
  commit = 'abc1234',
): BenchResult {
  return {
    bench,
    commit,
    machine: { cpu: 'test', cores: 2, os: 'test', node: 'v20', load1: 0 },
    method: [],
    goals: [],
    exitCode: 0,
    figures: Object.fromEntries(
      Object.entries(figures).map(([name, f]) => [
        name,
        {
          label: `the ${name}`,
          unit: f.unit ?? 'ratio',
          median: f.median,
          ci: f.ci,
          iqr: [f.ci[0] - 0.05, f.ci[1] + 0.05] as Interval,
          nextRun: f.nextRun,
          n: 15,
          samples: [f.median],
        },
      ]),
    ),
  };
}

const wide = (m: number): { median: number; ci: Interval; nextRun: Interval } => ({
  median: m,
  ci: [m - 0.01, m + 0.01],
  nextRun: [m - 0.2, m + 0.2],
});

describe('compareRuns', () => {
  it('measures each run median from the median of medians, and counts intervals that held the others', () => {
    // Medians 0.95, 1.00, 1.08: center 1.00, gap −5 % / +8 %. The CIs (±0.01) hold no other median; the
    // next-run intervals (±0.2) hold all of them.
    const rep = compareRuns([result({ r: wide(1.0) }), result({ r: wide(0.95) }), result({ r: wide(1.08) })]);
    const [f] = rep.figures;
    expect(f!.medians).toEqual([1.0, 0.95, 1.08]);
    expect(f!.center).toBe(1.0);
    expect(f!.gap[0]).toBeCloseTo(-0.05, 10);
    expect(f!.gap[1]).toBeCloseTo(0.08, 10);
    expect(f!.ciHeld).toEqual({ runs: 0, pairs: 0, ofPairs: 6 });
    // The IQRs (±0.06): run 1's holds 0.95 (not 1.08), run 2's holds 1.00 (not 1.08), run 3's neither.
    expect(f!.iqrHeld).toEqual({ runs: 0, pairs: 2, ofPairs: 6 });
    expect(f!.nextRunHeld).toEqual({ runs: 3, pairs: 6, ofPairs: 6 });
    expect(f!.withinTolerance).toBe(true);
    expect(f!.label).toBe('the r');
    expect(rep.repeats).toBe(true);
  });

  it('counts run-pairs one way: a narrow interval that misses one median is not a run that held', () => {
    // Run 1's next-run interval [0.99, 1.01] holds run 2's 1.005 but not run 3's 1.02: one pair, no run.
    const rep = compareRuns([
      result({ r: { median: 1.0, ci: [0.99, 1.01], nextRun: [0.99, 1.01] } }),
      result({ r: wide(1.005) }),
      result({ r: wide(1.02) }),
    ]);
    expect(rep.figures[0]!.nextRunHeld).toEqual({ runs: 2, pairs: 5, ofPairs: 6 });
    expect(rep.repeats).toBe(false);
  });

  it('fails a ratio that strays more than ±10 %, on either side, and only ratios', () => {
    const high = compareRuns([result({ r: wide(1.0) }), result({ r: wide(1.0) }), result({ r: wide(1.11) })]);
    expect(high.figures[0]!.withinTolerance).toBe(false);
    expect(high.repeats).toBe(false);
    const low = compareRuns([result({ r: wide(1.0) }), result({ r: wide(1.0) }), result({ r: wide(0.89) })]);
    expect(low.figures[0]!.withinTolerance).toBe(false);
    const edge = compareRuns([result({ r: wide(1.0) }), result({ r: wide(1.0) }), result({ r: wide(1.1) })]);
    expect(edge.figures[0]!.withinTolerance).toBe(true);
    // An absolute figure moving 2× is shown, but does not decide whether the benchmark repeats.
    const ns = (m: number) => ({ unit: 'ns/call', median: m, ci: [m - 1, m + 1] as Interval, nextRun: null });
    const abs = compareRuns([result({ t: ns(100) }), result({ t: ns(200) })]);
    expect(abs.figures[0]!.withinTolerance).toBeNull();
    expect(abs.figures[0]!.nextRunHeld).toBeNull();
    expect(abs.repeats).toBe(true);
  });

  it('does not call a ratio repeatable when a run printed no next-run interval', () => {
    const rep = compareRuns([result({ r: { ...wide(1.0), nextRun: null } }), result({ r: wide(1.0) })]);
    expect(rep.figures[0]!.nextRunHeld).toBeNull();
    expect(rep.repeats).toBe(false);
  });

  it('refuses what cannot be compared, naming why', () => {
    expect(() => compareRuns([result({ r: wide(1) })])).toThrow(/at least 2 runs/);
    expect(() => compareRuns([result({ r: wide(1) }), result({ r: wide(1) }, 'other')])).toThrow(
      /different benchmarks: demo and other/,
    );
    expect(() => compareRuns([result({ r: wide(1) }), result({ s: wide(1) })])).toThrow(/run 2 has no figure r/);
  });

  it('lists the commits measured', () => {
    const rep = compareRuns([result({ r: wide(1) }, 'demo', 'a'), result({ r: wide(1) }, 'demo', 'b')]);
    expect(rep.commits).toEqual(['a', 'b']);
  });
});

describe('formatGap', () => {
  it('writes one ± when both sides round alike, else both', () => {
    expect(formatGap([-0.041, 0.041])).toBe('±4.1 %');
    expect(formatGap([-0.03, 0.052])).toBe('−3.0 %, +5.2 %');
    expect(formatGap([0, 0])).toBe('±0.0 %');
  });
});

describe('resultFromOutput', () => {
  it('takes the last result line among the runner’s own lines', () => {
    const a = JSON.stringify(result({ r: wide(1) }, 'first'));
    const b = JSON.stringify(result({ r: wide(1) }, 'second'));
    const out = `> nx run demo:bench\n${a}\nsome table\n${b}\n\n NX   Successfully ran target bench\n`;
    expect(resultFromOutput(out).bench).toBe('second');
    expect(() => resultFromOutput('no result here')).toThrow(/no benchmark result/);
  });
});

describe('renderRepeatability', () => {
  it('prints a row per figure with each run, the gap and the held counts, and the verdict', () => {
    const rep = compareRuns([result({ r: wide(1.0) }), result({ r: wide(1.2) }), result({ r: wide(0.98) })]);
    const text = renderRepeatability(rep);
    expect(text[0]).toMatch(/^figure\s+run 1\s+run 2\s+run 3\s+gap/);
    expect(text[1]).toMatch(/^the r \(ratio\)\s+1\.000\s+1\.200\s+0\.980\s+−2\.0 %, \+20\.0 % ✗\s+0 \(0\/6\)/);
    expect(text.at(-2)).toBe(
      "ratios within ±10 % of their median: 0 of 1; every run's next-run interval (95 %) held the other medians: 0 of 1",
    );
    expect(text.at(-1)).toBe('repeats: no');
    const md = renderRepeatability(rep, 'markdown');
    expect(md[0]).toBe('| figure | run 1 | run 2 | run 3 | gap | bootstrap CI held | IQR held | next-run held |');
    expect(md[2]).toContain('| the r (ratio) | 1.000 | 1.200 | 0.980 |');
  });

  it('says at which confidence the runs printed their next-run intervals (95 % before they said)', () => {
    const at99 = (m: number): BenchResult => {
      const r = result({ r: wide(m) });
      return { ...r, figures: { r: { ...r.figures['r']!, nextRunConfidence: 0.99 } } };
    };
    expect(compareRuns([at99(1), at99(1.01)]).nextRunConfidences).toEqual([0.99]);
    const mixed = renderRepeatability(compareRuns([result({ r: wide(1) }), at99(1.01)]));
    expect(mixed.at(-2)).toContain("every run's next-run interval (95 % / 99 %) held");
  });
});

describe('npx nx bench-repeat --from', () => {
  const cli = join(import.meta.dirname, 'repeat-cli.ts');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('compares saved outputs, and with --check exits 1 when they do not repeat', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-repeat-'));
    const files = [1.0, 1.0, 1.3].map((m, i) => {
      const file = join(dir, `run-${i}.log`);
      writeFileSync(file, `noise\n${JSON.stringify(result({ r: wide(m) }))}\n`);
      return file;
    });
    const ok = run('--from', files[0]!, files[1]!);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('repeats: yes');
    const bad = run('--from', ...files, '--check');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('repeats: no');
  });

  it('names bad arguments and exits 2', () => {
    const none = run();
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('name one benchmark project');
    const runs = run('resilience', '--runs', '1');
    expect(runs.status).toBe(2);
    expect(runs.stderr).toContain('--runs must be a whole number ≥ 2, got 1');
    const missing = run('--from', '/nonexistent/a.log', '/nonexistent/b.log');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('/nonexistent/a.log');
  });
});
