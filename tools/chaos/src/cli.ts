import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  blockName,
  formatIssue,
  nextRuns,
  seededRandom,
  type Resource,
  type ScheduleResource,
  type SelectorSpec,
} from '@nova/chaos-spec';
import { bearer, createAgentClient, unary, type Fault, type Target } from '@nova/proto';
import { startApi } from './api.ts';
import { startContainersEnvironment } from '@nova/containers';
import { startLocalEnvironment, type ChaosEnvironment } from './environment.ts';
import { K6Load } from './k6-load.ts';
import { LoadGenerator, type LoadSource } from './load.ts';
import { Observer } from './observe.ts';
import { ControllerAudit, policyFromEnv } from './policy.ts';
import { verdictTable, writeReports, type RunReport } from './report/report.ts';
import { printDiff, reportCommand } from './report-command.ts';
import { listRuns, readRun, resolveRun, RUN_KEYWORDS, trendOf } from './report/history.ts';
import { Runner, type ExperimentResult } from './runner.ts';
import { Scheduler } from './scheduler.ts';
import { planChaos, UnsupportedLocallyError } from './translate.ts';
import { validateCommand, validateFiles } from './validate-command.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEFAULT_SUITE = join(ROOT, 'k8s/base/chaos-mesh');
const STATE = resolve(process.env['CHAOS_STATE_DIR'] ?? join(ROOT, '.chaos'));

const HELP = `chaos: run Chaos Mesh experiments against the local stack

Usage:
  chaos run [files or dirs...]   start the local environment, run the experiments under load, print verdicts
                                 (default: k8s/base/chaos-mesh, the default suite)
  chaos validate <files...>      check experiment files (CRD schema + Chaos Mesh webhook rules); --strict makes
                                 kinds Nova Chaos does not model errors, --output json prints a report
  chaos plan [files...]          show which services each selector matches (the blast radius)
  chaos schedule [files...]      run the Schedules (cron, Forbid/Allow, historyLimit) until Ctrl-C
  chaos up [--live-load <rps>]   start the local environment, the REST API and the dashboard; keep them running
                                 (Ctrl-C or chaos down stops them)
  chaos dashboard                chaos up with a live load of 10 req/s for the dashboard's live chart
  chaos down                     stop an environment started by chaos up
  chaos status                   targets and active faults of a running chaos up
  chaos report                   the recorded runs (reports/<run-id>/), oldest first
  chaos report diff <runA> <runB>
                                 compare every experiment's figures (verdict, p99 and error rate during the
                                 fault, recovery, effect); exit 1 when one regressed. --against last-passing
                                 [runB] compares with the newest passing run; runs are ids, last or last-passing

Options (run, schedule, up):
  --env <name>        local (default: processes + embedded PostgreSQL) or containers (Docker: images built
                      locally, PostgreSQL and the services in containers, Docker- and kernel-level faults;
                      needs root and a running Docker engine; CHAOS_ENV=containers does the same)
  --seed <n>          replay a run: the same seed selects the same targets and draws the same jitter
  --rate <n>          load in requests per second (default 40)
  --load <gen>        builtin (default) or k6: the real k6 binary runs the same journeys
  --baseline <dur>    baseline before each fault, in seconds (default 3)
  --report-dir <dir>  where reports go (default reports/<run-id>)
  --compare <run>     after the table, compare with a recorded run (last, last-passing or a run id)
  --fail-on-regression  exit 1 when --compare flags a regression
  --threshold <pct>   (run --compare, report diff) a p99 rise above this share is a regression (default 25)

Safety (environment): ALLOWED_NAMESPACES, CHAOS_REQUIRE_SAFE_LABEL=true, CHAOS_PROFILE=production,
CHAOS_SECURITY_MODE (default true), CHAOS_ACTOR. Exit codes: 0 all passed, 1 a hypothesis failed or an
experiment errored, 2 bad usage or invalid files, 130 interrupted.`;

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\nRun chaos --help for usage.\n`);
  process.exit(2);
}

/** Reads and validates files; prints every finding and exits 2 when any is an error. */
function load(paths: string[]): Resource[] {
  const v = validateFiles(paths.length ? paths : [DEFAULT_SUITE]);
  for (const w of v.warnings) process.stderr.write(`  ${formatIssue(w)}\n`);
  if (v.errors.length) {
    process.stderr.write(
      `${v.errors.length} problem(s) in the experiment files:\n${v.errors.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`,
    );
    process.exit(2);
  }
  return v.resources;
}

/** The local environment's targets, as they register (for planning without starting anything). */
function staticTargets(): Target[] {
  const t = (id: string, app: string, pid: number): Target => ({
    id,
    name: app,
    namespace: 'default',
    labels: { app, tier: 'backend', 'chaos.mesh/safe': 'true' },
    pid,
    ports: [],
    registeredAtMs: 0,
  });
  return [
    t('user-service-0', 'user-service', 1),
    t('user-service-1', 'user-service', 2),
    t('auth-service-0', 'auth-service', 3),
    t('messaging-service-0', 'messaging-service', 4),
  ];
}

async function plan(paths: string[]): Promise<number> {
  const resources = load(paths);
  const up = readUpState();
  let targets = staticTargets();
  if (up) {
    const client = createAgentClient(up.agent);
    targets = (await unary(client.listTargets.bind(client), {}, bearer(up.token))).targets;
    client.close();
  }
  console.log(
    `Blast radius against ${up ? `the running environment (${targets.length} targets)` : 'the local environment layout (not started)'}:`,
  );
  const random = seededRandom(1);
  let bad = 0;
  const show = (label: string, kind: Resource['kind'], spec: Record<string, unknown>, durationMs?: number): void => {
    try {
      const p = planChaos(kind as never, spec as Record<string, unknown> & SelectorSpec, targets, random, {
        namespace: 'default',
        defaultDurationMs: 10_000,
        dataDirOf: () => '/var/lib/nova',
        ...(durationMs ? { durationMs } : {}),
      });
      console.log(
        `  ${label}: matches ${p.matching.map((t) => t.id).join(', ')}; mode picks ${p.selected.length}; faults: ${[...new Set(p.faults.map((f) => f.kind))].join(', ')}; ${p.durationMs / 1000} s`,
      );
    } catch (e) {
      bad++;
      console.log(`  ${label}: REFUSED: ${(e as Error).message}`);
    }
  };
  for (const r of resources) {
    if (r.kind === 'Workflow')
      for (const t of r.spec.templates) {
        const block = Object.keys(t).find((k) => k.endsWith('Chaos'));
        if (block)
          show(`Workflow/${r.metadata.name} › ${t.name}`, t.templateType as never, t[block] as Record<string, unknown>);
      }
    else if (r.kind === 'Schedule') console.log(`  Schedule/${r.metadata.name}: ${r.spec.schedule} (${r.spec.type})`);
    else show(`${r.kind}/${r.metadata.name}`, r.kind, r.spec as Record<string, unknown>);
  }
  return bad ? 1 : 0;
}

interface UpState {
  pid: number;
  agent: string;
  token: string;
  /** The controller's REST API and its bearer token. */
  api: string;
  apiToken: string;
  services: Array<{ name: string; url: string; pid: number | undefined }>;
}
const UP_FILE = join(STATE, 'up.json');
function readUpState(): UpState | undefined {
  if (!existsSync(UP_FILE)) return undefined;
  const s = JSON.parse(readFileSync(UP_FILE, 'utf8')) as UpState;
  try {
    process.kill(s.pid, 0);
    return s;
  } catch {
    return undefined;
  }
}

/** The environments `--env` names. */
const ENVIRONMENTS = ['local', 'containers'] as const;

function envName(value: string | undefined): (typeof ENVIRONMENTS)[number] {
  const name = value ?? process.env['CHAOS_ENV'] ?? 'local';
  if (!ENVIRONMENTS.includes(name as never))
    usage(
      `--env ${name}: expected ${ENVIRONMENTS.join(' or ')} (k8s runs the same files with Chaos Mesh: kubectl apply -k k8s/overlays/staging/chaos-mesh)`,
    );
  return name as (typeof ENVIRONMENTS)[number];
}

async function startEnv(
  runDir: string,
  log: (l: string) => void,
  which: (typeof ENVIRONMENTS)[number] = 'local',
): Promise<ChaosEnvironment> {
  const onLifecycle = (e: { instance: string; type: string; code: number | null }): void =>
    log(`    supervisor: ${e.instance} ${e.type}${e.type === 'exited' ? ` (code ${e.code}), restarting` : ''}`);
  let env: ChaosEnvironment;
  if (which === 'containers') {
    log(
      'starting the containers environment: images (built locally), PostgreSQL, user-service ×2, auth-service, messaging-service in Docker; chaos-agent on the host with the Docker and kernel drivers...',
    );
    env = await startContainersEnvironment({
      stateDir: runDir,
      onLifecycle,
      onLine: (source, l) => source === 'images' && log(`    ${l}`),
    });
    if (!env.netem)
      log('    note: this kernel has no netem qdisc: NetworkChaos delay is injected in-process, corrupt is refused');
  } else {
    log(
      'starting the local environment: embedded PostgreSQL, chaos-agent, user-service ×2, auth-service, messaging-service...',
    );
    env = await startLocalEnvironment({ stateDir: runDir, onLifecycle });
  }
  log(`environment ready: agent ${env.agent.address}; ${env.instances.map((i) => `${i.name} ${i.url}`).join(', ')}`);
  return env;
}

interface RunOptions {
  env?: string;
  load?: string;
  seed?: string;
  rate?: string;
  baseline?: string;
  'report-dir'?: string;
  compare?: string;
  'fail-on-regression'?: boolean;
  threshold?: string;
}

/** The child a Schedule spawns at a tick: its embedded chaos (or workflow) under the child's name. */
function scheduleChild(s: ScheduleResource, name: string): Resource {
  const spec = s.spec[blockName(s.spec.type)] as never;
  return { kind: s.spec.type, metadata: { ...s.metadata, name }, spec, source: s.source } as Resource;
}

/**
 * Starts the local environment under load, runs `body` with a runner, then always: recovers every fault,
 * stops the load and the environment, writes the reports and prints the verdicts.
 */
async function harness(
  resources: Resource[],
  opts: RunOptions,
  body: (runner: Runner, results: ExperimentResult[], signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const seed = opts.seed !== undefined ? Number(opts.seed) : randomInt(1, 2 ** 31 - 1);
  if (!Number.isInteger(seed)) usage(`--seed ${opts.seed}: expected an integer`);
  if (opts.load !== undefined && opts.load !== 'k6' && opts.load !== 'builtin')
    usage(`--load ${opts.load}: expected builtin or k6`);
  const rate = Number(opts.rate ?? 40);
  if (!(rate > 0 && rate <= 500)) usage(`--rate ${opts.rate}: expected a number of requests per second from 1 to 500`);
  const baselineMs = Number(opts.baseline ?? 3) * 1000;
  const which = envName(opts.env);
  if (!(baselineMs >= 1000)) usage(`--baseline ${opts.baseline}: expected seconds >= 1`);
  const policy = policyFromEnv();
  const runId = new Date().toISOString().replace(/[-:]/g, '').replace(/\..+/, '').replace('T', '-');
  const runDir = join(STATE, 'runs', runId);
  const dir = resolve(opts['report-dir'] ?? join(ROOT, 'reports', runId));
  if (opts.compare !== undefined && !(RUN_KEYWORDS as readonly string[]).includes(opts.compare)) {
    // A run id that is not recorded is a typo: say so before minutes of experiments, not after.
    try {
      resolveRun(dirname(dir), opts.compare);
    } catch (error) {
      usage(`--compare: ${(error as Error).message}`);
    }
  }
  const audit = new ControllerAudit(join(STATE, 'audit.jsonl'), policy.actor ?? 'unknown');
  const log = (l: string): void => console.log(l);
  log(`nova chaos run ${runId}: ${resources.length} resource(s), seed ${seed}, load ${rate} req/s`);

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

  const startedAt = new Date().toISOString();
  let env: ChaosEnvironment | undefined;
  let loadGen: LoadSource | undefined;
  let observer: Observer | undefined;
  let runner: Runner | undefined;
  const results: ExperimentResult[] = [];
  try {
    env = await startEnv(runDir, log, which);
    const instances = env.instances;
    const targets = { user: env.urls('user'), auth: env.urls('auth'), messaging: env.urls('messaging') };
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
    runner = new Runner(env, loadGen, observer, {
      runId,
      seed,
      baselineMs,
      policy,
      audit,
      log,
      signal: controller.signal,
    });
    await body(runner, results, controller.signal);
  } catch (error) {
    log(`chaos run failed: ${(error as Error).message}`);
    if (error instanceof UnsupportedLocallyError) log('  (refused before anything was injected)');
    results.push({
      name: 'environment',
      kind: 'Environment',
      file: '',
      verdict: 'error',
      reason: (error as Error).message,
      checks: [],
      injected: [],
      durationSeconds: 0,
    });
  } finally {
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
  // The trend over the runs recorded beside this one (reports/<run-id>/ siblings).
  const history = listRuns(dirname(dir))
    .map((r) => readRun(r.dir))
    .filter((r) => r !== undefined);
  const files = await writeReports(dir, report, trendOf(history, report));
  rmSync(join(runDir, 'data'), { recursive: true, force: true });
  console.log(`\n${verdictTable(results, { color: process.stdout.isTTY === true && !process.env['NO_COLOR'] })}\n`);
  console.log(
    `reports: ${Object.values(files)
      .map((f) => relative(process.cwd(), f))
      .join(', ')}`,
  );
  const passed = results.filter((r) => r.verdict === 'pass').length;
  const bad = results.filter((r) => r.verdict === 'fail' || r.verdict === 'error').length;
  const inconclusive = results.filter((r) => r.verdict === 'inconclusive').length;
  const skipped = results.filter((r) => r.verdict === 'skipped').length;
  console.log(
    `${passed} passed, ${bad} failed${inconclusive ? `, ${inconclusive} inconclusive (a fault showed no effect)` : ''}${skipped ? `, ${skipped} skipped` : ''}`,
  );
  if (controller.signal.aborted) return 130;
  const regressed = opts.compare !== undefined && compareWithHistory(dirname(dir), runId, opts);
  return bad + inconclusive > 0 || (regressed && opts['fail-on-regression']) ? 1 : 0;
}

/** `run --compare`: prints the diff against a recorded run; true when a figure regressed. */
function compareWithHistory(root: string, runId: string, opts: RunOptions): boolean {
  console.log('');
  try {
    return printDiff(
      { reports: root, ...(opts.threshold ? { threshold: opts.threshold } : {}) },
      opts.compare!,
      runId,
      (l) => console.log(l),
    );
  } catch (error) {
    // Nothing recorded to compare with (a first run) is not a failure of this run.
    console.log(`--compare ${opts.compare}: ${(error as Error).message}`);
    return false;
  }
}

function run(paths: string[], opts: RunOptions): Promise<number> {
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
      const result = await runner.run(r);
      results.push(result);
      console.log(
        `  → ${result.verdict.toUpperCase()} ${r.kind}/${r.metadata.name}${result.reason ? `: ${result.reason}` : ''}`,
      );
    }
  });
}

/** `chaos schedule`: runs the Schedules found until Ctrl-C; each tick runs its child under load. */
function schedule(paths: string[], opts: RunOptions): Promise<number> {
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
  return harness(schedules, opts, async (runner, results, signal) => {
    const schedulers = schedules.map(
      (s) =>
        new Scheduler(
          s,
          async (name) => {
            const result = await runner.run(scheduleChild(s, name));
            results.push(result);
            console.log(
              `  → ${result.verdict.toUpperCase()} ${s.spec.type}/${name}${result.reason ? `: ${result.reason}` : ''}`,
            );
            return result.verdict === 'pass';
          },
          (e) => console.log(`  schedule ${s.metadata.name}: ${e.type}${'child' in e ? ` ${e.child}` : ''}`),
        ),
    );
    for (const sc of schedulers) sc.start();
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    for (const sc of schedulers) sc.stop();
  });
}

async function up(opts: { 'live-load'?: string; env?: string } = {}): Promise<number> {
  if (readUpState()) usage(`an environment is already up (${UP_FILE}); run chaos down first`);
  const runDir = join(STATE, 'up');
  const env = await startEnv(runDir, (l) => console.log(l), envName(opts.env));
  mkdirSync(STATE, { recursive: true });
  const policy = policyFromEnv();
  const audit = new ControllerAudit(join(STATE, 'audit.jsonl'), policy.actor ?? 'unknown');
  // The API starts faults without verdicts: the runner is used for planning, policy and leases. A live load
  // (--live-load, req/s) feeds the dashboard's live chart.
  const liveRate = Number(opts['live-load'] ?? 0);
  if (!(liveRate >= 0 && liveRate <= 500))
    usage(`--live-load ${opts['live-load']}: expected requests per second from 0 to 500`);
  const idle = new LoadGenerator(
    { user: env.urls('user'), auth: env.urls('auth'), messaging: env.urls('messaging') },
    { ratePerSecond: Math.max(1, liveRate) },
  );
  if (liveRate > 0) {
    await idle.prepare();
    idle.start();
  }
  const htpasswdFile = process.env['CHAOS_DASHBOARD_HTPASSWD'];
  const runner = new Runner(
    env,
    idle,
    new Observer(
      () => [],
      () => idle.now(),
    ),
    {
      runId: 'up',
      seed: randomInt(1, 2 ** 31 - 1),
      baselineMs: 0,
      policy,
      audit,
      log: (l) => console.log(l),
      signal: new AbortController().signal,
    },
  );
  const apiToken = randomBytes(24).toString('hex');
  const api = await startApi({
    runner,
    audit,
    token: apiToken,
    suite: [DEFAULT_SUITE],
    port: Number(process.env['CHAOS_API_PORT'] ?? 0),
    reportsDir: join(ROOT, 'reports'),
    ...(htpasswdFile ? { htpasswd: readFileSync(htpasswdFile, 'utf8') } : {}),
    ...(liveRate > 0 ? { live: idle } : {}),
  });
  const state: UpState = {
    pid: process.pid,
    agent: env.agent.address,
    token: env.agent.token,
    api: api.url,
    apiToken,
    services: env.instances.map((i) => ({ name: i.name, url: i.url, pid: i.pid })),
  };
  writeFileSync(UP_FILE, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.log(`REST API ${api.url}/api/v1/experiments (bearer token in ${relative(process.cwd(), UP_FILE)})`);
  console.log(
    `dashboard ${api.url}/ (${htpasswdFile ? `users of ${htpasswdFile}` : 'set CHAOS_DASHBOARD_HTPASSWD to an htpasswd -B file to log in with a browser'})`,
  );
  console.log(`up. chaos status shows targets and faults; Ctrl-C or chaos down stops everything.`);
  await new Promise<void>((resolveStop) => {
    const stop = (): void => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('stopping...');
  await api.close();
  await runner.recoverAll();
  await idle.stop();
  await env.stop();
  rmSync(UP_FILE, { force: true });
  return 0;
}

async function down(): Promise<number> {
  const s = readUpState();
  if (!s) {
    console.log('no environment is up');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(s.pid, 0);
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      console.log('stopped');
      return 0;
    }
  }
  console.log(`the chaos up process ${s.pid} did not stop within 30 s`);
  return 1;
}

async function status(): Promise<number> {
  const s = readUpState();
  if (!s) {
    console.log('no environment is up (chaos up starts one)');
    return 0;
  }
  const client = createAgentClient(s.agent);
  const md = bearer(s.token);
  const { targets } = await unary(client.listTargets.bind(client), {}, md);
  const { faults } = await unary(client.listFaults.bind(client), {}, md);
  client.close();
  console.log(`agent ${s.agent}, controller pid ${s.pid}`);
  for (const t of targets as Target[])
    console.log(
      `  target ${t.id} (${t.namespace}) pid ${t.pid} ports ${t.ports.join(',')} labels ${Object.entries(t.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  console.log(faults.length ? `${faults.length} active fault(s):` : 'no active fault');
  for (const f of faults as Fault[])
    console.log(`  ${f.id}: ${f.kind} on ${f.targetId}, expires ${new Date(f.expiresAtMs).toISOString()}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        seed: { type: 'string' },
        env: { type: 'string' },
        load: { type: 'string' },
        'live-load': { type: 'string' },
        rate: { type: 'string' },
        baseline: { type: 'string' },
        'report-dir': { type: 'string' },
        help: { type: 'boolean', default: false },
        strict: { type: 'boolean' },
        output: { type: 'string' },
        compare: { type: 'string' },
        'fail-on-regression': { type: 'boolean' },
        threshold: { type: 'string' },
        against: { type: 'string' },
        reports: { type: 'string' },
        all: { type: 'boolean' },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const [command = 'run', ...rest] = parsed.positionals;
  if (parsed.values.help) {
    console.log(HELP);
    return 0;
  }
  switch (command) {
    case 'run':
      return run(rest, parsed.values);
    case 'validate':
      if (rest.length === 0) usage('validate needs files or directories');
      return validateCommand(rest, { strict: parsed.values.strict ?? false, output: parsed.values.output ?? 'text' });
    case 'plan':
      return plan(rest);
    case 'schedule':
      return schedule(rest, parsed.values);
    case 'up':
      return up(parsed.values);
    case 'dashboard':
      return up({
        'live-load': parsed.values['live-load'] ?? '10',
        ...(parsed.values.env ? { env: parsed.values.env } : {}),
      });
    case 'down':
      return down();
    case 'status':
      return status();
    case 'report':
      return reportCommand(rest, {
        reports: resolve(parsed.values.reports ?? join(ROOT, 'reports')),
        ...(parsed.values.against !== undefined ? { against: parsed.values.against } : {}),
        ...(parsed.values.threshold !== undefined ? { threshold: parsed.values.threshold } : {}),
        all: parsed.values.all ?? false,
      });
    default:
      usage(`unknown command "${command}"`);
  }
}

// Until main finishes, an emptied event loop is a bug (a promise nobody will settle): never report success then.
process.exitCode = 1;
process.on('beforeExit', () => {
  if (!finished) process.stderr.write('chaos: internal error: the run stopped before it finished\n');
});
let finished = false;
process.exitCode = await main(process.argv.slice(2));
finished = true;
// Timers of finished work (gRPC channels, undici pools) must not hold the process open.
setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
