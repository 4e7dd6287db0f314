import { randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { nextRuns, type Resource, type ScheduleResource } from '@nova/chaos-spec';
import type { ChaosEnvironment } from '../env/local.ts';
import { environmentKind } from '../env/registry.ts';
import { K6Load } from '../verdict/k6-load.ts';
import { LoadGenerator, liveTargets, type LoadSource } from '../verdict/load.ts';
import { Observer } from '../verdict/observe.ts';
import { ControllerAudit, policyFromEnv } from '../plan/policy.ts';
import { verdictTable, writeReports, type RunReport } from '../report/report.ts';
import { printDiff } from './report-command.ts';
import { claimRunDir, removeDeadRunsData } from './stale-runs.ts';
import { listRuns, readRun, resolveRun, RUN_KEYWORDS, trendOf } from '../report/history.ts';
import type { EnvironmentDeath } from '../run/infrastructure.ts';
import { Runner, type ExperimentResult } from '../run/runner.ts';
import { scheduleChild, Scheduler } from '../run/scheduler.ts';
import { pruneBefore, retentionFor } from '../verdict/retention.ts';
import { UnsupportedLocallyError } from '../plan/translate.ts';
import { envName, load, ROOT, STATE, usage, type ENVIRONMENTS } from './common.ts';
import { createProgress, outputMode, recentFigures, type OutputMode, type Progress } from './progress.ts';

/** Parts of the environment that no experiment targets: their death is the harness's, not the system's. */
const INFRASTRUCTURE = new Set(['postgresql', 'chaos-agent']);

/**
 * Starts the environment `which` names (through the registry) and says what it brought up; the deaths of its
 * infrastructure (PostgreSQL, the agent) go into `deaths`, for the verdicts.
 */
export async function startEnv(
  runDir: string,
  log: (l: string, level?: 'detail') => void,
  which: (typeof ENVIRONMENTS)[number] = 'local',
  deaths?: EnvironmentDeath[],
): Promise<ChaosEnvironment> {
  const onLifecycle = (e: { instance: string; type: string; code: number | null; reason?: string }): void => {
    const why = e.type === 'exited' ? ` (code ${e.code}), restarting` : e.reason ? `: ${e.reason}` : '';
    log(`    supervisor: ${e.instance} ${e.type}${why}`);
    if (e.type === 'exited' && INFRASTRUCTURE.has(e.instance)) deaths?.push({ instance: e.instance, atMs: Date.now() });
  };
  const kind = environmentKind(which);
  if (!kind?.start) throw new Error(`the ${which} environment is not started by chaos run`);
  log(`starting the ${kind.name} environment: ${kind.summary}...`);
  const env = await kind.start({ stateDir: runDir, onLifecycle, log });
  log(`environment ready: agent ${env.agent.address}; ${env.instances.map((i) => `${i.name} ${i.url}`).join(', ')}`);
  return env;
}

export interface RunOptions {
  env?: string;
  load?: string;
  seed?: string;
  rate?: string;
  baseline?: string;
  'report-dir'?: string;
  compare?: string;
  'fail-on-regression'?: boolean;
  threshold?: string;
  output?: string;
}

/** A run's id: its start time, UTC, to the second (`20261202-173255`); also its report directory's name. */
export function newRunId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..+/, '').replace('T', '-');
}

/** A run's settings from its options, each refused with a usage error naming the option. */
interface RunSettings {
  seed: number;
  /** Load in requests per second. */
  rate: number;
  /** Baseline before each fault, in ms. */
  baselineMs: number;
  which: (typeof ENVIRONMENTS)[number];
  runId: string;
  /** The run's state (the environment's data, logs). */
  runDir: string;
  /** Where the reports go. */
  dir: string;
  mode: OutputMode;
}

function runSettings(opts: RunOptions): RunSettings {
  const seed = opts.seed !== undefined ? Number(opts.seed) : randomInt(1, 2 ** 31 - 1);
  if (!Number.isInteger(seed)) usage(`--seed ${opts.seed}: expected an integer`);
  if (opts.load !== undefined && opts.load !== 'k6' && opts.load !== 'builtin')
    usage(`--load ${opts.load}: expected builtin or k6`);
  const rate = Number(opts.rate ?? 40);
  if (!(rate > 0 && rate <= 500)) usage(`--rate ${opts.rate}: expected a number of requests per second from 1 to 500`);
  const baselineMs = Number(opts.baseline ?? 3) * 1000;
  const which = envName(opts.env);
  if (!(baselineMs >= 1000)) usage(`--baseline ${opts.baseline}: expected seconds >= 1`);
  const runId = newRunId();
  const dir = resolve(opts['report-dir'] ?? join(ROOT, 'reports', runId));
  if (opts.compare !== undefined && !(RUN_KEYWORDS as readonly string[]).includes(opts.compare)) {
    // A run id that is not recorded is a typo: say so before minutes of experiments, not after.
    try {
      resolveRun(dirname(dir), opts.compare);
    } catch (error) {
      usage(`--compare: ${(error as Error).message}`);
    }
  }
  let mode: OutputMode;
  try {
    mode = outputMode(opts.output, process.stdout.isTTY === true);
  } catch (error) {
    usage((error as Error).message);
  }
  return { seed, rate, baselineMs, which, runId, runDir: join(STATE, 'runs', runId), dir, mode };
}

/** Ctrl-C (or SIGTERM) once aborts the run, which then recovers every fault and stops; twice exits at once. */
function abortOnInterrupt(log: (l: string) => void): AbortController {
  const controller = new AbortController();
  let interrupted = 0;
  const onSignal = (): void => {
    interrupted++;
    if (interrupted === 1) {
      log('\ninterrupted: recovering every fault, then stopping (Ctrl-C again to stop at once)');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller;
}

/** The result that stands for a run whose environment (`name`) failed before or around its experiments. */
export function environmentError(error: unknown, name = 'environment'): ExperimentResult {
  return {
    name,
    kind: 'Environment',
    file: '',
    verdict: 'error',
    reason: (error as Error).message,
    checks: [],
    injected: [],
    durationSeconds: 0,
  };
}

/**
 * Starts the local environment under load, runs `body` with a runner, then always: recovers every fault,
 * stops the load and the environment, writes the reports and prints the verdicts.
 */
export async function harness(
  resources: Resource[],
  opts: RunOptions,
  body: (runner: Runner, results: ExperimentResult[], signal: AbortSignal) => Promise<void>,
  /** For runs without an end (Schedules): keep only this many ms of load samples and observations. */
  retainMs?: number,
): Promise<number> {
  const settings = runSettings(opts);
  const { seed, rate, which, runId, runDir } = settings;
  // What a SIGKILLed predecessor left (its services' data), then this run's directory marked as ours.
  removeDeadRunsData(dirname(runDir));
  claimRunDir(runDir);
  const policy = policyFromEnv();
  const audit = new ControllerAudit(join(STATE, 'audit.jsonl'), policy.actor ?? 'unknown');
  let loadGen: LoadSource | undefined;
  const progress: Progress = createProgress(settings.mode, {
    // Schedules run until Ctrl-C: no total to count towards.
    total: resources.every((r) => r.kind === 'Schedule') ? 0 : resources.length,
    now: () => loadGen?.now() ?? 0,
    figures: () => (loadGen ? recentFigures(loadGen.samples, loadGen.now()) : undefined),
  });
  const log = progress.log;
  log(`nova chaos run ${runId}: ${resources.length} resource(s), seed ${seed}, load ${rate} req/s`);
  const controller = abortOnInterrupt(log);

  const startedAt = new Date().toISOString();
  let env: ChaosEnvironment | undefined;
  let observer: Observer | undefined;
  let runner: Runner | undefined;
  const results: ExperimentResult[] = [];
  let pruner: NodeJS.Timeout | undefined;
  try {
    const deaths: EnvironmentDeath[] = [];
    env = await startEnv(runDir, log, which, deaths);
    const instances = env.instances;
    // Read before each request: a restarted container answers at another address.
    const targets = liveTargets(env);
    loadGen =
      opts.load === 'k6'
        ? new K6Load(targets, { ratePerSecond: rate })
        : new LoadGenerator(targets, { ratePerSecond: rate });
    log(`load: ${opts.load === 'k6' ? 'k6' : 'built-in'} generator`);
    await loadGen.prepare();
    observer = new Observer(
      () => instances.map((i) => i.url),
      () => loadGen!.now(),
    );
    observer.start();
    loadGen.start();
    if (retainMs !== undefined) {
      // A Schedule runs until Ctrl-C: what every request and scrape left would grow without end. Each child's
      // verdict has read its windows by the time they fall out; the report keeps the last retainMs.
      const load = loadGen;
      const scrapes = observer;
      pruner = setInterval(() => {
        const cutoff = load.now() - retainMs;
        pruneBefore(load.samples, cutoff);
        pruneBefore(scrapes.observations, cutoff);
      }, 60_000);
      pruner.unref();
      log(`long-running: the last ${Math.round(retainMs / 60_000)} min of load samples are kept (and reported)`);
    }
    runner = new Runner(env, loadGen, observer, {
      runId,
      seed,
      baselineMs: settings.baselineMs,
      policy,
      audit,
      log,
      onPhase: progress.phase,
      signal: controller.signal,
      environmentDeaths: () => deaths,
    });
    await body(runner, results, controller.signal);
  } catch (error) {
    log(`chaos run failed: ${(error as Error).message}`);
    if (error instanceof UnsupportedLocallyError) log('  (refused before anything was injected)');
    results.push(environmentError(error));
  } finally {
    clearInterval(pruner);
    await runner?.recoverAll();
    await loadGen?.stop();
    observer?.stop();
    await env?.stop().catch((e: unknown) => log(`error while stopping the environment: ${(e as Error).message}`));
  }
  const report: RunReport = {
    runId,
    seed,
    startedAt,
    finishedAt: new Date().toISOString(),
    environment: which,
    results,
    samples: loadGen?.samples ?? [],
    observations: observer?.observations ?? [],
  };
  return finishRun(settings, report, opts, progress, controller.signal.aborted);
}

/** Writes a run's reports into `dir`, with the trend over the runs recorded beside it (`dir`'s siblings). */
export async function writeReportsWithTrend(dir: string, report: RunReport): Promise<Record<string, string>> {
  const history = listRuns(dirname(dir))
    .map((r) => readRun(r.dir))
    .filter((r) => r !== undefined);
  return writeReports(dir, report, trendOf(history, report));
}

/** Writes the reports, prints the verdict table and the totals, and answers the run's exit code. */
async function finishRun(
  settings: RunSettings,
  report: RunReport,
  opts: RunOptions,
  progress: Progress,
  aborted: boolean,
): Promise<number> {
  const { dir, runId, runDir, seed, which } = settings;
  const results = report.results;
  const files = await writeReportsWithTrend(dir, report);
  rmSync(join(runDir, 'data'), { recursive: true, force: true });
  progress.stop();
  const color = settings.mode === 'live' && !process.env['NO_COLOR'];
  progress.summary(`\n${verdictTable(results, { color })}\n`);
  const reportFiles = Object.values(files).map((f) => relative(process.cwd(), f));
  progress.summary(`reports: ${reportFiles.join(', ')}`);
  const passed = results.filter((r) => r.verdict === 'pass').length;
  const bad = results.filter((r) => r.verdict === 'fail' || r.verdict === 'error').length;
  const inconclusive = results.filter((r) => r.verdict === 'inconclusive').length;
  const skipped = results.filter((r) => r.verdict === 'skipped').length;
  progress.summary(
    `${passed} passed, ${bad} failed${inconclusive ? `, ${inconclusive} inconclusive (a fault showed no effect)` : ''}${skipped ? `, ${skipped} skipped` : ''}`,
  );
  const regressed = !aborted && opts.compare !== undefined && compareWithHistory(dirname(dir), runId, opts, progress);
  const code = aborted ? 130 : bad + inconclusive > 0 || (regressed && opts['fail-on-regression']) ? 1 : 0;
  progress.finish({
    runId,
    seed,
    environment: which,
    results: results.map((r) => ({
      experiment: `${r.kind}/${r.name}`,
      verdict: r.verdict,
      ...(r.reason ? { reason: r.reason } : {}),
    })),
    reports: reportFiles,
    exitCode: code,
  });
  return code;
}

/** `run --compare`: prints the diff against a recorded run; true when a figure regressed. */
export function compareWithHistory(root: string, runId: string, opts: RunOptions, progress: Progress): boolean {
  progress.summary('');
  try {
    return printDiff(
      { reports: root, ...(opts.threshold ? { threshold: opts.threshold } : {}) },
      opts.compare!,
      runId,
      (l) => progress.summary(l),
    );
  } catch (error) {
    // Nothing recorded to compare with (a first run) is not a failure of this run.
    progress.summary(`--compare ${opts.compare}: ${(error as Error).message}`);
    return false;
  }
}

export function run(paths: string[], opts: RunOptions): Promise<number> {
  const resources = load(paths);
  return harness(resources, opts, async (runner, results, signal) => {
    for (const r of resources) {
      if (signal.aborted) {
        results.push({
          name: r.metadata.name,
          kind: r.kind,
          file: `${r.source.file}:${r.source.line}`,
          verdict: 'skipped',
          reason: 'interrupted',
          checks: [],
          injected: [],
          durationSeconds: 0,
        });
        continue;
      }
      results.push(await runner.run(r));
    }
  });
}

/** `chaos schedule`: runs the Schedules found until Ctrl-C; each tick runs its child under load. */
export function schedule(paths: string[], opts: RunOptions): Promise<number> {
  const schedules = load(paths).filter((r): r is ScheduleResource => r.kind === 'Schedule');
  if (schedules.length === 0) usage('no Schedule in the given files');
  for (const s of schedules) {
    console.log(
      `Schedule/${s.metadata.name} (${s.spec.schedule}, ${s.spec.concurrencyPolicy ?? 'Forbid'}): next runs ${nextRuns(
        s.spec.schedule,
        new Date(),
        3,
      )
        .map((d) => d.toISOString())
        .join(', ')}`,
    );
  }
  return harness(
    schedules,
    opts,
    async (runner, results, signal) => {
      const schedulers = schedules.map(
        (s) =>
          new Scheduler(
            s,
            async (name) => {
              const result = await runner.run(scheduleChild(s, name));
              results.push(result);
              return result.verdict === 'pass';
            },
            (e) => console.log(`  schedule ${s.metadata.name}: ${e.type}${'child' in e ? ` ${e.child}` : ''}`),
          ),
      );
      for (const sc of schedulers) sc.start();
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      for (const sc of schedulers) sc.stop();
    },
    retentionFor(schedules),
  );
}
