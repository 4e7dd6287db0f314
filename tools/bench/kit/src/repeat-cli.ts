/**
 * `npx nx bench-repeat -- <project> [--runs 5] [--check] [--markdown]`: runs `npx nx bench <project>` several
 * times back to back and prints how well the runs agree (see `repeatability.ts`). `--from <file>...` compares
 * saved outputs of earlier runs instead of running. Each run's full output is kept in `.bench/repeat/`.
 *
 * Exit codes: 0 compared (with `--check`: and the runs repeat), 1 with `--check` when they do not, 2 bad
 * arguments or a run that failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from './machine.ts';
import type { BenchResult } from './report.ts';
import { compareRuns, renderRepeatability, resultFromOutput } from './repeatability.ts';

const USAGE =
  'usage: npx nx bench-repeat -- <project> [--runs N] [--check] [--markdown] [-- <bench flags>]\n' +
  '       npx nx bench-repeat -- --from <output file> <output file>... [--check] [--markdown]';

function fail(message: string): never {
  console.error(`bench-repeat: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse(argv: readonly string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: {
        runs: { type: 'string', default: '5' },
        check: { type: 'boolean', default: false },
        markdown: { type: 'boolean', default: false },
        from: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: true,
    });
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 2) fail(`--runs must be a whole number ≥ 2, got ${values.runs}`);
    return { ...values, runs, positionals };
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** Runs one benchmark to the end and returns its result; its output is saved whatever happens. */
function runOnce(root: string, project: string, benchFlags: readonly string[], file: string): BenchResult {
  const args = ['nx', 'bench', project, '--outputStyle=static', '--skip-nx-cache'];
  if (benchFlags.length > 0) args.push('--', ...benchFlags);
  const run = spawnSync('npx', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  writeFileSync(file, `${run.stdout ?? ''}${run.stderr ?? ''}`);
  if (run.status !== 0) fail(`npx ${args.join(' ')} exited ${run.status ?? run.signal}; its output: ${file}`);
  return resultFromOutput(run.stdout);
}

function main(): void {
  const dash = process.argv.indexOf('--', 2);
  const own = dash === -1 ? process.argv.slice(2) : process.argv.slice(2, dash);
  const benchFlags = dash === -1 ? [] : process.argv.slice(dash + 1);
  const opts = parse(own);
  let results: BenchResult[];
  if (opts.from) {
    if (opts.positionals.length < 2) fail('--from needs at least two saved outputs');
    results = opts.positionals.map((file) => {
      try {
        return resultFromOutput(readFileSync(file, 'utf8'));
      } catch (err) {
        return fail(`${file}: ${(err as Error).message}`);
      }
    });
  } else {
    const [project, ...extra] = opts.positionals;
    if (!project || extra.length > 0) fail('name one benchmark project (resilience, faults, services, …)');
    const root = workspaceRoot();
    const dir = join(root, '.bench', 'repeat');
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    results = [];
    for (let i = 1; i <= opts.runs; i++) {
      const file = join(dir, `${project}-${stamp}-${i}.log`);
      const started = Date.now();
      results.push(runOnce(root, project, benchFlags, file));
      console.log(`run ${i} of ${opts.runs}: ${((Date.now() - started) / 1000).toFixed(0)} s, output in ${file}`);
    }
  }
  let rep;
  try {
    rep = compareRuns(results);
  } catch (err) {
    return fail((err as Error).message);
  }
  for (const line of renderRepeatability(rep, opts.markdown ? 'markdown' : 'text')) console.log(line);
  process.exitCode = opts.check && !rep.repeats ? 1 : 0;
}

main();
