import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@nova/chaos-spec';
import { ROOT, usage } from '../cli/common.ts';
import { runTrial, SIGNALS, VICTIMS, type TrialOutcome, type TrialPlan, type TrialSignal } from './trial.ts';

/** Options of `chaos campaign`. */
export interface CampaignOptions {
  trials?: string;
  seed?: string;
  env?: string;
  /** `kill` (default), `stop` or `mixed`: which signals the trials send. */
  signal?: string;
  record?: boolean;
}

/** The signals `--signal` selects. */
const SIGNAL_CHOICES: Record<string, readonly TrialSignal[]> = {
  kill: ['SIGKILL'],
  stop: ['SIGSTOP'],
  mixed: SIGNALS,
};

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
const SUITE = join(ROOT, 'k8s/base/chaos-mesh/experiments');

/**
 * The trials a seed draws: an experiment, a victim, a moment in its fault (0-8 s after injection), and, when
 * `signals` offers more than SIGKILL, a signal and a pause for a stopped controller (2-12 s). SIGKILL-only plans
 * draw nothing more, so a seed draws the trials it drew before SIGSTOP existed.
 */
export function planTrials(
  count: number,
  seed: number,
  experiments: readonly string[],
  signals: readonly TrialSignal[] = ['SIGKILL'],
): TrialPlan[] {
  // The suite's seeded source (mulberry32): the same seed draws the same trials.
  const random = seededRandom(seed);
  const killOnly = signals.length === 1 && signals[0] === 'SIGKILL';
  return Array.from({ length: count }, (_, index) => {
    const experiment = experiments[Math.floor(random() * experiments.length)]!;
    const victim = VICTIMS[Math.floor(random() * VICTIMS.length)]!;
    const delayMs = Math.round(random() * 8_000);
    const pick = Math.floor(random() * 8);
    const signal = killOnly ? 'SIGKILL' : signals[Math.floor(random() * signals.length)]!;
    const pauseMs = killOnly ? 0 : 2_000 + Math.round(random() * 10_000);
    return { index: index + 1, experiment, victim, signal, delayMs, pauseMs, pick };
  });
}

function row(o: TrialOutcome): string {
  const name = relative(SUITE, o.plan.experiment).replace(/\.yaml$/, '');
  const leaks = o.leaks.length === 0 ? 'none' : o.leaks.join('; ');
  const pause =
    o.plan.signal === 'SIGSTOP' && o.plan.victim === 'controller'
      ? `, SIGCONT after ${(o.plan.pauseMs / 1000).toFixed(1)} s`
      : '';
  return `| ${o.plan.index} | ${name} | ${o.plan.signal} ${o.plan.victim} at +${(o.plan.delayMs / 1000).toFixed(1)} s${pause} | ${o.killed} | ${o.exitCode ?? '-'} | ${o.verdict ?? '-'} | ${leaks} | ${o.durationSeconds.toFixed(0)} s |`;
}

/** The workspace's commit (`-dirty` with uncommitted changes), for what a recorded page was measured on. */
export function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/**
 * `chaos campaign`: seeded crash trials. Each runs one experiment of the default suite with `chaos run` and
 * SIGKILLs the controller, the agent, a service or PostgreSQL at a random moment of its fault, then checks
 * that nothing was left (processes, data directories, shared memory, an active fault, a run that never
 * ended). Prints a row per trial and a summary; `--record` writes docs/reliability.md. Exit 1 on any leak.
 */
export async function campaignCommand(opts: CampaignOptions): Promise<number> {
  const trials = Number(opts.trials ?? 10);
  if (!Number.isInteger(trials) || trials < 1 || trials > 1000) usage(`--trials ${opts.trials}: expected 1 to 1000`);
  const seed = opts.seed !== undefined ? Number(opts.seed) : randomInt(1, 2 ** 31 - 1);
  if (!Number.isInteger(seed)) usage(`--seed ${opts.seed}: expected an integer`);
  // `--env` (or CHAOS_ENV, as for chaos run: `npx nx chaos -- …` cannot pass --env through nx).
  const env = opts.env ?? process.env['CHAOS_ENV'] ?? 'local';
  if (env !== 'local' && env !== 'containers') usage(`--env ${env}: expected local or containers`);
  const choice = opts.signal ?? 'kill';
  // Own keys only: `--signal toString` must be refused, not found on the object's prototype.
  const signals = Object.hasOwn(SIGNAL_CHOICES, choice) ? SIGNAL_CHOICES[choice]! : undefined;
  if (!signals) usage(`--signal ${opts.signal}: expected kill, stop or mixed`);
  const experiments = readdirSync(SUITE)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(SUITE, f));
  const header = [
    '| # | experiment | signal | signalled | exit | verdict | left behind | time |',
    '|---|---|---|---|---|---|---|---|',
  ];
  console.log(`chaos campaign: ${trials} trial(s), seed ${seed}, env ${env}, ${signals.join(' or ')}`);
  console.log(header.join('\n'));
  const outcomes: TrialOutcome[] = [];
  for (const plan of planTrials(trials, seed, experiments, signals)) {
    const outcome = await runTrial(plan, { cli: CLI, env });
    outcomes.push(outcome);
    console.log(row(outcome));
    if (outcome.tail) console.log(outcome.tail.map((l) => `    ${l}`).join('\n'));
  }
  const leaking = outcomes.filter((o) => o.leaks.length > 0).length;
  const byVictim = VICTIMS.map((v) => `${v} ${outcomes.filter((o) => o.plan.victim === v).length}`).join(', ');
  const bySignal =
    signals.length > 1
      ? `; ${signals.map((g) => `${g} ${outcomes.filter((o) => o.plan.signal === g).length}`).join(', ')}`
      : `; ${signals[0]}`;
  const summary = `${trials} trials (${byVictim}${bySignal}), seed ${seed}: ${leaking === 0 ? 'nothing left behind in any' : `${leaking} left something behind`}`;
  console.log(`\n${summary}`);
  if (opts.record) {
    const suffix = `${env === 'local' ? '' : `-${env}`}${opts.signal === undefined || opts.signal === 'kill' ? '' : `-${opts.signal}`}`;
    const file = join(ROOT, `docs/reliability${suffix}.md`);
    writeFileSync(
      file,
      reliabilityDoc(summary, [...header, ...outcomes.map(row)], outcomes, {
        seed,
        trials,
        env,
        signal: opts.signal ?? 'kill',
      }),
    );
    console.log(`written: ${relative(process.cwd(), file)}`);
  }
  return leaking === 0 ? 0 : 1;
}

/** Why a trial's output was kept (see `needsExplaining`). */
function endOf(o: TrialOutcome): string {
  if (o.exitCode === null) return 'the run did not end';
  if (o.leaks.length > 0) return 'the run left something behind';
  return `the run ended with exit ${o.exitCode} and no verdict`;
}

/** The recorded page's section with the output of every trial whose end needs explaining. */
export function explainedTrials(outcomes: readonly TrialOutcome[]): string {
  const kept = outcomes.filter((o) => o.tail);
  if (kept.length === 0) return '';
  const sections = kept.map(
    (o) =>
      `### Trial ${o.plan.index}: ${endOf(o)}\n\nIts last ${o.tail!.length} lines (stderr marked \`!\`):\n\n\`\`\`text\n${o.tail!.join('\n')}\n\`\`\`\n`,
  );
  return `\n## Trials whose end needs explaining\n\nA run that hung, left something behind, or ended without a verdict although its controller was not the one\nSIGKILLed keeps its output's last lines here.\n\n${sections.join('\n')}`;
}

function reliabilityDoc(
  summary: string,
  table: string[],
  outcomes: readonly TrialOutcome[],
  { seed, trials, env, signal }: { seed: number; trials: number; env: string; signal: string },
): string {
  const date = new Date().toISOString().slice(0, 10);
  return `# Reliability: the crash campaign

\`${env === 'local' ? '' : `CHAOS_ENV=${env} `}npx nx chaos -- campaign --trials ${trials} --seed ${seed}${signal === 'kill' ? '' : ` --signal ${signal}`} --record\` wrote this page (${date}, commit
${commit()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}).

Each trial runs one experiment of the default suite with \`chaos run\` (its own state directory) and SIGKILLs one
part at a random moment of the fault (0 to 8 s after injection): the controller, the chaos agent, a service
replica or PostgreSQL. Then it checks what the run left: any of its processes still running (pid and start
time, so a reused pid is not mistaken), PostgreSQL's data directory, shared memory created during the trial
(\`/dev/shm\`, SysV segments a process of the run created), a fault the report says was left active, a run that did not end within 150 s.
The agent, PostgreSQL and the services are supervised (restarted when they die, and killed and restarted when
their liveness probes go unanswered for ~12 s: a hang); an experiment during which
PostgreSQL or the agent died is an ERROR naming it, one whose service was killed is judged as any other
(replicas and retries should carry it), and a killed controller takes everything it started with it (the
agent by its IPC channel, PostgreSQL by its guard, which also removes its data and frees its shared memory).${
    env === 'containers'
      ? `

In the containers environment PostgreSQL and the services are containers: the trial kills one with
\`docker kill --signal KILL\`, and also checks that no container of the run (by its controller-pid label) and
no network created during the trial is left; a run may take 300 s. The agent runs on the host, as locally.`
      : ''
  }${
    signal === 'kill'
      ? ''
      : `

With \`--signal ${signal}\`, ${signal === 'stop' ? 'every' : 'a'} trial SIGSTOPs its victim instead${signal === 'stop' ? '' : ' (drawn per trial)'}: a hang, not a crash (the
process keeps its sockets and answers nothing). A stopped controller is continued (SIGCONT) after 2 to 12 s, as
after a frozen laptop or a long pause, and its run must then end as any other; a stopped agent, service or
PostgreSQL stays stopped until its supervisor's liveness probe gives up on it (4 probes 3 s apart unanswered),
kills it and starts it again; the run must end with a verdict either way, leaving nothing behind.`
  }

**${summary}.**

${table.join('\n')}
${explainedTrials(outcomes)}`;
}
