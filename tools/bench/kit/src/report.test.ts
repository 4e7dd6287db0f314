import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_USAGE, BenchReport, benchFlagsOrExit, formatValue, parseBenchFlags } from './report.ts';
import { interleave } from './rounds.ts';

describe('interleave', () => {
  it('alternates the cases, rotates which goes first, and discards warm-up rounds', async () => {
    const order: string[] = [];
    let tick = 0;
    const out = await interleave(
      {
        a: async () => (order.push('a'), ++tick),
        b: async () => (order.push('b'), ++tick),
        c: async () => (order.push('c'), ++tick),
      },
      { rounds: 3, warmup: 1, gc: false },
    );
    // Warm-up round (index -1) starts at c, then a, b, c.
    expect(order.join('')).toBe('cab' + 'abc' + 'bca' + 'cab');
    expect(out.a).toEqual([4, 9, 11]);
    expect(out.b).toEqual([5, 7, 12]);
    expect(out.c).toEqual([6, 8, 10]);
  });

  it('starts the rotation where it is told to, so replications differ in which case goes first', async () => {
    const order: string[] = [];
    await interleave(
      { a: async () => (order.push('a'), 0), b: async () => (order.push('b'), 0), c: async () => (order.push('c'), 0) },
      { rounds: 2, warmup: 1, gc: false, rotation: 4 },
    );
    // rotation 4 ≡ 1: the first measured round starts at b, the warm-up before it at a.
    expect(order.join('')).toBe('abc' + 'bca' + 'cab');
  });

  it('refuses zero rounds', async () => {
    await expect(interleave({ a: async () => 1 }, { rounds: 0 })).rejects.toThrow(/rounds must be/);
  });
});

describe('parseBenchFlags', () => {
  it('reads --check, --record and --rounds, and names bad input', () => {
    expect(parseBenchFlags(['--check', '--rounds', '9'])).toEqual({ check: true, record: false, rounds: 9 });
    expect(parseBenchFlags([])).toEqual({ check: false, record: false, rounds: undefined });
    expect(() => parseBenchFlags(['--rounds', 'x'])).toThrow(/--rounds must be a whole number/);
    expect(() => parseBenchFlags(['--chek'])).toThrow(/chek/);
  });
});

describe('BenchReport', () => {
  const made: string[] = [];
  afterAll(() => made.forEach((root) => rmSync(root, { recursive: true, force: true })));
  function workspace(): string {
    const root = mkdtempSync(join(tmpdir(), 'bench-kit-'));
    made.push(root);
    writeFileSync(join(root, 'nx.json'), '{}');
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs', 'benchmarks.md'), '# Benchmark results\n');
    return root;
  }

  it('computes ratios per round, so drift that hits both sides cancels', () => {
    const report = new BenchReport('demo', { check: false, record: false, rounds: undefined });
    // The machine slows down 2× over the run, on both cases alike.
    report.figure('ours', 'ours', 'ns/call', [100, 150, 200]);
    report.figure('theirs', 'theirs', 'ns/call', [1000, 1500, 2000]);
    const r = report.ratio('ours_over_theirs', 'ours / theirs', 'ours', 'theirs');
    expect(r.samples).toEqual([0.1, 0.1, 0.1]);
    expect(r.summary.ci).toEqual([0.1, 0.1]);
    expect(() => report.ratio('x', 'x', 'ours', 'nope')).toThrow(/no figure named nope/);
  });

  it('computes differences per round in the figures’ unit, and refuses mixed units', () => {
    const report = new BenchReport('demo', { check: false, record: false, rounds: undefined });
    report.figure('layered', 'layered', 'ns/call', [700, 900, 1100]);
    report.figure('plain', 'plain', 'ns/call', [500, 700, 900]);
    report.figure('rate', 'rate', 'req/s', [1, 2, 3]);
    const d = report.difference('added', 'what the layer adds', 'layered', 'plain');
    expect(d.samples).toEqual([200, 200, 200]);
    expect(d.unit).toBe('ns/call');
    expect(() => report.difference('x', 'x', 'layered', 'rate')).toThrow(/cannot subtract req\/s from ns\/call/);
  });

  it('with --check exits 1 only for a goal missed with confidence, and says inconclusive otherwise', () => {
    const lines: string[] = [];
    const root = workspace();
    const missed = new BenchReport('demo', { check: true, record: false, rounds: undefined });
    missed.figure('ns', 'composed', 'ns/call', [1000, 1010, 990, 1005, 995]);
    missed.goal({ figure: 'ns', op: '<=', target: 900 });
    const a = missed.finish({ print: (l) => lines.push(l), root });
    expect(a.exitCode).toBe(1);
    expect(a.goals[0]!.outcome).toBe('missed');
    expect(lines.join('\n')).toMatch(/≤ 900: missed/);
    expect(JSON.parse(lines.at(-1)!).figures.ns.median).toBe(1000);
    expect(JSON.parse(lines.at(-1)!).figures.ns.samples).toEqual([1000, 1010, 990, 1005, 995]);

    const straddles = new BenchReport('demo', { check: true, record: false, rounds: undefined });
    straddles.figure('ns', 'composed', 'ns/call', [850, 950, 880, 930, 900]);
    straddles.goal({ figure: 'ns', op: '<=', target: 900 });
    const b = straddles.finish({ print: () => {}, root });
    expect(b.goals[0]!.outcome).toBe('inconclusive');
    expect(b.exitCode).toBe(0);
  });

  it('with --record appends a dated entry with commit, machine and spread under one History heading', () => {
    const root = workspace();
    for (let i = 0; i < 2; i++) {
      const report = new BenchReport('demo', { check: false, record: true, rounds: undefined });
      report.note('3 rounds');
      report.figure('rps', 'GET /x', 'req/s', [9000, 9100, 9200]);
      report.figure('ms', 'latency', 'ms', [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
      const lines: string[] = [];
      report.finish({ print: (l) => lines.push(l), root });
      // Ten rounds in five batches of two, each batch's median 1.5: the next run is predicted at 1.5 exactly.
      expect(JSON.parse(lines.at(-1)!).figures.ms.nextRun).toEqual([1.5, 1.5]);
      expect(JSON.parse(lines.at(-1)!).figures.rps.nextRun).toBeNull();
    }
    const doc = readFileSync(join(root, 'docs', 'benchmarks.md'), 'utf8');
    expect(doc.match(/^## History$/gm)).toHaveLength(1);
    expect(doc.match(/^### \d{4}-\d{2}-\d{2} · `demo` · commit /gm)).toHaveLength(2);
    expect(doc).toContain('| figure | median | 95 % CI of median | IQR | next run, 99 % | goal |');
    expect(doc).toContain('| GET /x (req/s) | 9,100 | 9,000 – 9,200 | 9,050 – 9,150 | — |  |');
    expect(doc).toContain('| latency (ms) | 1.50 | 1.00 – 2.00 | 1.00 – 2.00 | 1.50 – 1.50 |  |');
    expect(doc).toMatch(/Node v\d+.*3 rounds\./);
  });

  it('batches the next-run interval as told: one batch per replication (fresh processes), in round order', () => {
    // Three replications of four rounds, each at its own level.
    const samples = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3];
    const replications = new BenchReport('demo', { check: false, record: false, rounds: undefined }, { batches: 3 });
    const half = 9.925 * 1 * Math.sqrt(2 / 3); // t(2) at 99 % (the next-run interval's confidence) · sd(1, 2, 3) · √(2/3)
    const [lo, hi] = replications.figure('x', 'x', 'ms', samples).summary.nextRun!;
    expect(lo).toBeCloseTo(2 - half, 9);
    expect(hi).toBeCloseTo(2 + half, 9);
    // Too few rounds for the replications: the default batches, never an error.
    expect(replications.figure('y', 'y', 'ms', [1, 2, 3, 4, 5]).summary.nextRun).toBeUndefined();
    const byDefault = new BenchReport('demo', { check: false, record: false, rounds: undefined });
    expect(byDefault.figure('x', 'x', 'ms', samples).summary.nextRun).not.toEqual([lo, hi]);
  });

  it('formats ratios, small and large values', () => {
    expect(formatValue(0.98765, 'ratio')).toBe('0.988');
    expect(formatValue(1.234, 'ms')).toBe('1.23');
    expect(formatValue(12345.6, 'req/s')).toBe('12,346');
  });
});

describe('benchFlagsOrExit', () => {
  it('returns the flags, or prints what is wrong with the usage and exits 2', () => {
    const errors: string[] = [];
    const codes: number[] = [];
    const io = {
      error: (text: string) => void errors.push(text),
      exit: (code: number): never => {
        codes.push(code);
        throw new Error('exited');
      },
    };
    expect(benchFlagsOrExit(['--record'], io)).toEqual({ check: false, record: true, rounds: undefined });
    expect(() => benchFlagsOrExit(['--rounds', '0'], io)).toThrow('exited');
    expect(codes).toEqual([2]);
    expect(errors[0]).toBe(`bench: --rounds must be a whole number ≥ 1, got 0\n${BENCH_USAGE}`);
  });
});
