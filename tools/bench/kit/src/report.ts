import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { judge, type Goal, type GoalOutcome } from './goal.ts';
import { commitId, machineInfo, workspaceRoot, type MachineInfo } from './machine.ts';
import { NEXT_RUN_CONFIDENCE } from './next-run.ts';
import { pairedDifferences, pairedRatios, summarize, type Summary } from './stats.ts';

/** The command-line flags every benchmark takes (after `npx nx bench <project> --`). */
export interface BenchFlags {
  /** Exit non-zero when a goal is missed with confidence. */
  check: boolean;
  /** Append this run to the history in `docs/benchmarks.md`. */
  record: boolean;
  /** Measured rounds, when given (`--rounds N`); else the benchmark's default. */
  rounds: number | undefined;
}

/** Parses the shared flags; an unknown flag is an error that names the known ones. */
export function parseBenchFlags(argv: readonly string[] = process.argv.slice(2)): BenchFlags {
  const { values } = parseArgs({
    args: [...argv],
    options: { check: { type: 'boolean' }, record: { type: 'boolean' }, rounds: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  let rounds: number | undefined;
  if (values.rounds !== undefined) {
    rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1)
      throw new Error(`--rounds must be a whole number ≥ 1, got ${values.rounds}`);
  }
  return { check: values.check ?? false, record: values.record ?? false, rounds };
}

/** What a benchmark accepts after `npx nx bench <project> --`. */
export const BENCH_USAGE = 'usage: npx nx bench <project> -- [--check] [--record] [--rounds N]';

/**
 * {@link parseBenchFlags} for a benchmark's entry point: bad flags print what is wrong and the usage and exit
 * with code 2, without a stack trace.
 */
export function benchFlagsOrExit(
  argv: readonly string[] = process.argv.slice(2),
  io: { error: (text: string) => void; exit: (code: number) => never } = {
    error: (text) => console.error(text),
    exit: (code) => process.exit(code),
  },
): BenchFlags {
  try {
    return parseBenchFlags(argv);
  } catch (err) {
    io.error(`bench: ${(err as Error).message}\n${BENCH_USAGE}`);
    return io.exit(2);
  }
}

/** One reported figure. */
export interface Figure {
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  readonly samples: readonly number[];
  readonly summary: Summary;
}

/** A goal with how this run judged it. */
export interface JudgedGoal extends Goal {
  readonly outcome: GoalOutcome;
}

/** What {@link BenchReport.finish} returns. */
export interface BenchResult {
  readonly bench: string;
  readonly commit: string;
  readonly machine: MachineInfo;
  readonly method: readonly string[];
  readonly figures: Readonly<
    Record<
      string,
      {
        /** What the figure is, as the table prints it (absent in results printed before 2026-12-04). */
        label?: string;
        unit: string;
        median: number;
        ci: readonly [number, number];
        iqr: readonly [number, number];
        /** Where another run's median should fall (see `predictNextRun`); null with too few rounds. */
        nextRun: readonly [number, number] | null;
        /** Confidence of {@link nextRun} (absent in results printed before 2026-12-05 noon: 0.95). */
        nextRunConfidence?: number;
        n: number;
        /** The per-round values, in round order (for comparing runs, or another statistic). */
        samples: readonly number[];
      }
    >
  >;
  readonly goals: readonly JudgedGoal[];
  /** The process exit code: 1 when `--check` and a goal was missed with confidence, else 0. */
  readonly exitCode: number;
}

/** Rows of cells as aligned text: each column as wide as its widest cell, two spaces between columns. */
export function alignedTable(titles: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = titles.map((t, i) => Math.max(t.length, ...rows.map((r) => r[i]!.length)));
  const pad = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [pad(titles), ...rows.map(pad)];
}

/** Rows of cells as a GitHub markdown table. */
export function markdownTable(titles: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${titles.join(' | ')} |`,
    `|${titles.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

/** Formats a figure for people: ratios with 3 decimals, small values with 2, large ones grouped. */
export function formatValue(value: number, unit: string): string {
  if (unit === 'ratio') return value.toFixed(3);
  if (Math.abs(value) < 10) return value.toFixed(2);
  return Math.round(value).toLocaleString('en-US');
}

/**
 * Collects a benchmark's figures (each a sample of rounds), derives per-round ratios, judges goals against
 * confidence intervals, prints a table and one JSON line last, and with `--record` appends a dated entry to
 * `docs/benchmarks.md`.
 */
export class BenchReport {
  private readonly figures = new Map<string, Figure>();
  private readonly goals: Goal[] = [];
  private readonly method: string[] = [];
  private readonly machine = machineInfo();
  readonly name: string;
  readonly flags: BenchFlags;

  private readonly batches: number | undefined;

  /**
   * @param options.batches the batches of every figure's next-run interval: give the number of independent
   *   replications (fresh processes) when the rounds ran in several, in order, so that the interval carries
   *   how much a replication moves the figure. Default: 5 consecutive batches.
   */
  constructor(name: string, flags: BenchFlags, options: { batches?: number } = {}) {
    this.name = name;
    this.flags = flags;
    this.batches = options.batches;
  }

  /** Says how the figures were measured (rounds, pinning, GC, load generator), printed and recorded. */
  note(line: string): this {
    this.method.push(line);
    return this;
  }

  /** Adds a figure measured once per round. */
  figure(name: string, label: string, unit: string, samples: readonly number[]): Figure {
    if (this.figures.has(name)) throw new Error(`figure ${name} reported twice`);
    if (samples.length === 0) throw new RangeError(`figure ${name} has no samples`);
    const batches = this.batches !== undefined && samples.length >= 2 * this.batches ? this.batches : undefined;
    const figure: Figure = { name, label, unit, samples, summary: summarize(samples, { batches }) };
    this.figures.set(name, figure);
    return figure;
  }

  /** Adds the per-round ratio `numerator / denominator` of two figures measured in the same rounds. */
  ratio(name: string, label: string, numerator: string, denominator: string): Figure {
    const a = this.get(numerator);
    const b = this.get(denominator);
    return this.figure(name, label, 'ratio', pairedRatios(a.samples, b.samples));
  }

  /**
   * Adds the per-round difference `minuend - subtrahend` of two figures measured in the same rounds, in
   * their unit: what one layer adds to a pipeline.
   */
  difference(name: string, label: string, minuend: string, subtrahend: string): Figure {
    const a = this.get(minuend);
    const b = this.get(subtrahend);
    if (a.unit !== b.unit) throw new Error(`cannot subtract ${b.unit} from ${a.unit}`);
    return this.figure(name, label, a.unit, pairedDifferences(a.samples, b.samples));
  }

  /** Adds a goal on a figure, judged when the report finishes. */
  goal(goal: Goal): this {
    this.get(goal.figure);
    this.goals.push(goal);
    return this;
  }

  get(name: string): Figure {
    const figure = this.figures.get(name);
    if (!figure) throw new Error(`no figure named ${name} (known: ${[...this.figures.keys()].join(', ')})`);
    return figure;
  }

  /** Prints the table and the JSON line, records if asked, and returns the result with its exit code. */
  finish(options: { print?: (line: string) => void; root?: string } = {}): BenchResult {
    const print = options.print ?? console.log;
    const root = options.root ?? workspaceRoot();
    const commit = commitId(root);
    const judged = this.goals.map((g) => ({ ...g, outcome: judge(g, this.get(g.figure).summary) }));
    const missed = judged.filter((g) => g.outcome === 'missed');
    const lines = this.render(commit, judged);
    for (const line of lines.text) print(line);
    if (this.flags.record) {
      const file = join(root, 'docs', 'benchmarks.md');
      const heading = existsSync(file) && /^## History$/m.test(readFileSync(file, 'utf8')) ? '' : '\n## History\n';
      appendFileSync(file, `${heading}\n${lines.markdown.join('\n')}\n`);
      print(`recorded in ${file}`);
    }
    const exitCode = this.flags.check && missed.length > 0 ? 1 : 0;
    if (this.flags.check) {
      print(
        missed.length > 0
          ? `check: ${missed.length} goal(s) missed with confidence`
          : 'check: no goal missed with confidence',
      );
    }
    const result: BenchResult = {
      bench: this.name,
      commit,
      machine: this.machine,
      method: this.method,
      figures: Object.fromEntries(
        [...this.figures.values()].map((f) => [
          f.name,
          {
            label: f.label,
            unit: f.unit,
            median: f.summary.median,
            ci: f.summary.ci,
            iqr: f.summary.iqr,
            nextRun: f.summary.nextRun ?? null,
            nextRunConfidence: f.summary.nextRunConfidence,
            n: f.summary.n,
            samples: f.samples,
          },
        ]),
      ),
      goals: judged,
      exitCode,
    };
    print(JSON.stringify(result));
    return result;
  }

  private render(commit: string, judged: readonly JudgedGoal[]): { text: string[]; markdown: string[] } {
    const m = this.machine;
    const header = `${this.name} benchmark · commit ${commit} · ${m.os} · ${m.cores} × ${m.cpu} · Node ${m.node} · load ${m.load1}`;
    const goalOf = (name: string): string =>
      judged
        .filter((g) => g.figure === name)
        .map((g) => `${g.op === '<=' ? '≤' : '≥'} ${formatValue(g.target, this.get(name).unit)}: ${g.outcome}`)
        .join('; ');
    const rows = [...this.figures.values()].map((f) => {
      const s = f.summary;
      const v = (x: number): string => formatValue(x, f.unit);
      return [
        `${f.label} (${f.unit})`,
        v(s.median),
        `${v(s.ci[0])} – ${v(s.ci[1])}`,
        `${v(s.iqr[0])} – ${v(s.iqr[1])}`,
        s.nextRun ? `${v(s.nextRun[0])} – ${v(s.nextRun[1])}` : '—',
        goalOf(f.name),
      ];
    });
    const titles = [
      'figure',
      'median',
      '95 % CI of median',
      'IQR',
      `next run, ${Math.round(NEXT_RUN_CONFIDENCE * 100)} %`,
      'goal',
    ];
    const text = [header, ...this.method.map((l) => `  ${l}`), ...alignedTable(titles, rows)];
    const date = new Date().toISOString().slice(0, 10);
    const markdown = [
      `### ${date} · \`${this.name}\` · commit ${commit}`,
      `${m.os}, ${m.cores} × ${m.cpu}, Node ${m.node}, load ${m.load1}. ${this.method.join('; ')}.`,
      '',
      ...markdownTable(titles, rows),
    ];
    return { text, markdown };
  }
}
