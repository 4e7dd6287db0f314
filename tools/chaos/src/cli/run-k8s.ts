import { join, relative, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { K6Load } from '../verdict/k6-load.ts';
import { runOnCluster } from '../k8s/cluster-run.ts';
import { Prometheus } from '../k8s/promql.ts';
import { LoadGenerator, window, type LoadSource, type LoadTargets } from '../verdict/load.ts';
import { ControllerAudit, policyFromEnv } from '../plan/policy.ts';
import { verdictTable, type RunReport } from '../report/report.ts';
import type { ExperimentResult } from '../run/runner.ts';
import { load, ROOT, STATE, usage } from './common.ts';
import { environmentError, newRunId, writeReportsWithTrend } from './run.ts';

/** Options of `chaos run --env k8s`. */
export interface K8sRunOptions {
  kubeconfig?: string;
  prometheus?: string;
  load?: string;
  'load-targets'?: string;
  rate?: string;
  baseline?: string;
  verify?: string;
  'scrape-delay'?: string;
  'condition-timeout'?: string;
  'delete-timeout'?: string;
  'report-dir'?: string;
}

/** `user=http://…,auth=http://…,messaging=http://…` (several URLs of one service joined by `|`). */
function loadTargets(text: string): LoadTargets {
  const t: Record<string, string[]> = {};
  for (const part of text.split(',')) {
    const at = part.indexOf('=');
    const name = part.slice(0, at).trim();
    if (at <= 0 || !['user', 'auth', 'messaging'].includes(name))
      usage(`--load-targets: "${part}" is not service=url (services: user, auth, messaging)`);
    t[name] = part.slice(at + 1).split('|');
  }
  if (!t['user'] || !t['auth'] || !t['messaging']) usage('--load-targets: give user=, auth= and messaging= URLs');
  return t as unknown as LoadTargets;
}

const seconds = (value: string | undefined, flag: string, fallback: number): number => {
  if (value === undefined) return fallback;
  const s = Number(value);
  if (!(s >= 0 && s <= 3600)) usage(`--${flag} ${value}: expected seconds from 0 to 3600`);
  return s * 1000;
};

/** The load's figures between two instants (ms since the epoch); its samples are on its own clock. */
function clientWindowOf(load: LoadSource): (fromMs: number, toMs: number) => ReturnType<typeof window> {
  return (fromMs, toMs) => {
    const offset = Date.now() - load.now();
    return window(load.samples, fromMs - offset, toMs - offset);
  };
}

/**
 * `chaos run --env k8s`: the experiments on the cluster of `--kubeconfig` / `$KUBECONFIG`, Chaos Mesh as the
 * engine, verdicts from the Prometheus at `--prometheus` / `$PROMETHEUS_URL`; with `--load-targets`, the
 * built-in load (or `--load k6`) runs against the cluster's services for the whole run. Same reports as locally.
 */
export async function runK8s(paths: string[], opts: K8sRunOptions): Promise<number> {
  const resources = load(paths);
  const promUrl = opts.prometheus ?? process.env['PROMETHEUS_URL'];
  if (!promUrl) usage('--env k8s needs --prometheus <url> (or PROMETHEUS_URL): the verdicts come from its metrics');
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    usage(`--kubeconfig: ${(error as Error).message}`);
  }
  const rate = Number(opts.rate ?? 20);
  const timings = {
    baselineMs: seconds(opts.baseline, 'baseline', 10),
    verifyMs: seconds(opts.verify, 'verify', 10),
    scrapeDelayMs: seconds(opts['scrape-delay'], 'scrape-delay', 20),
    conditionTimeoutMs: seconds(opts['condition-timeout'], 'condition-timeout', 60),
    deleteTimeoutMs: seconds(opts['delete-timeout'], 'delete-timeout', 60),
  };
  const policy = policyFromEnv();
  const audit = new ControllerAudit(join(STATE, 'audit.jsonl'), policy.actor ?? 'unknown');
  const runId = newRunId();
  const dir = resolve(opts['report-dir'] ?? join(ROOT, 'reports', runId));
  const log = (l: string): void => console.log(l);
  const prometheus = new Prometheus(promUrl);
  log(
    `nova chaos run ${runId} on ${kc.getCurrentCluster()?.server ?? '?'} (context ${kc.currentContext}), Prometheus ${promUrl}`,
  );

  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    log('\ninterrupted: deleting the chaos object so Chaos Mesh recovers it (Ctrl-C again to stop at once)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let loadGen: LoadSource | undefined;
  const startedAt = new Date().toISOString();
  let results: ExperimentResult[] = [];
  try {
    if (!(await prometheus.ready(Date.now())))
      throw new Error(`Prometheus at ${promUrl} has no http_requests_total series: is it scraping the services?`);
    loadGen = await startClusterLoad(opts, rate, log);
    results = await runOnCluster(resources, {
      kubeconfig: kc,
      prometheus,
      policy,
      audit,
      signal: controller.signal,
      log,
      ...timings,
      ...(loadGen
        ? { clientWindow: clientWindowOf(loadGen), clientName: opts.load === 'k6' ? 'k6' : 'the built-in load' }
        : {}),
    });
  } catch (error) {
    results.push(environmentError(error, 'cluster'));
  } finally {
    await loadGen?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  onLoadClock(results, loadGen);
  const report: RunReport = {
    runId,
    seed: 0,
    startedAt,
    finishedAt: new Date().toISOString(),
    environment: 'k8s',
    results,
    samples: loadGen?.samples ?? [],
    observations: [],
  };
  const files = await writeReportsWithTrend(dir, report);
  console.log(`\n${verdictTable(results, { color: process.stdout.isTTY === true && !process.env['NO_COLOR'] })}\n`);
  console.log(
    `reports: ${Object.values(files)
      .map((f) => relative(process.cwd(), f))
      .join(', ')}`,
  );
  const bad = results.filter((r) => r.verdict === 'fail' || r.verdict === 'error' || r.verdict === 'inconclusive');
  console.log(`${results.filter((r) => r.verdict === 'pass').length} passed, ${bad.length} failed`);
  return controller.signal.aborted ? 130 : bad.length ? 1 : 0;
}

/** With `--load-targets`, our load (built-in or k6) against the cluster's services, started; else none. */
async function startClusterLoad(
  opts: K8sRunOptions,
  rate: number,
  log: (l: string) => void,
): Promise<LoadSource | undefined> {
  if (!opts['load-targets']) {
    log('load: none of ours (the verdicts judge the traffic the services already have)');
    return undefined;
  }
  const targets = loadTargets(opts['load-targets']);
  const loadGen =
    opts.load === 'k6'
      ? new K6Load(targets, { ratePerSecond: rate })
      : new LoadGenerator(targets, { ratePerSecond: rate });
  await loadGen.prepare();
  loadGen.start();
  log(`load: ${opts.load === 'k6' ? 'k6' : 'built-in'} at ${rate} req/s against the cluster's services`);
  return loadGen;
}

/**
 * The report's charts are on the load's clock (its samples' `at`, ms since it started); the cluster run
 * measured its phases in ms since the epoch. Without our load there is nothing to draw them over.
 */
function onLoadClock(results: ExperimentResult[], loadGen: LoadSource | undefined): void {
  const offset = loadGen ? Date.now() - loadGen.now() : undefined;
  for (const r of results) {
    if (!r.phases) continue;
    if (offset === undefined) delete r.phases;
    else {
      const p = r.phases;
      r.phases = {
        baselineStart: p.baselineStart - offset,
        faultStart: p.faultStart - offset,
        faultEnd: p.faultEnd - offset,
        recoveredAt: p.recoveredAt === undefined ? undefined : p.recoveredAt - offset,
      };
    }
  }
}
