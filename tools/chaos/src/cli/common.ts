import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIssue, type Resource } from '@nova/chaos-spec';
import { validateFiles } from './validate-command.ts';

/** What every `chaos` command shares: paths, the help text, usage errors, file loading, `chaos up` state, environment names. */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const DEFAULT_SUITE = join(ROOT, 'k8s/base/chaos-mesh');
export const STATE = resolve(process.env['CHAOS_STATE_DIR'] ?? join(ROOT, '.chaos'));

export const HELP = `chaos: run Chaos Mesh experiments against the local stack

Usage:
  chaos run [files or dirs...]   start the local environment, run the experiments under load, print verdicts
                                 (default: k8s/base/chaos-mesh, the default suite)
  chaos validate <files...>      check experiment files (CRD schema + Chaos Mesh webhook rules); --strict makes
                                 kinds Nova Chaos does not model errors, --output json prints a report
  chaos plan [files...]          show which services each selector matches (the blast radius); with --env k8s,
                                 the pods the API server of $KUBECONFIG matches (namespaces: ALLOWED_NAMESPACES)
  chaos env                      which environment --env / CHAOS_ENV selects, and whether this machine has what
                                 it needs (exit 1 naming what is missing and the fix)
  chaos kinds                    every fault kind: its layer (in-process, process, container, kernel) and the
                                 Chaos Mesh actions it honours (--output json)
  chaos schedule [files...]      run the Schedules (cron, Forbid/Allow, historyLimit) until Ctrl-C
  chaos campaign [--trials N] [--seed S] [--env local|containers] [--signal kill|stop|mixed] [--record]
                                 crash trials: each runs one suite experiment and SIGKILLs the controller, the
                                 agent, a service or PostgreSQL mid-fault, then lists what was left behind
                                 (processes, data, shared memory, containers, networks, active faults);
                                 --record writes docs/reliability.md (containers: reliability-containers.md);
                                 exit 1 on any leak
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
                      needs root and a running Docker engine; CHAOS_ENV=containers does the same); run and
                      plan also take k8s (a cluster with Chaos Mesh, below)
  --seed <n>          replay a run: the same seed selects the same targets and draws the same jitter
  --rate <n>          load in requests per second (default 40)
  --load <gen>        builtin (default) or k6: the real k6 binary runs the same journeys
  --baseline <dur>    baseline before each fault, in seconds (default 3)
  --report-dir <dir>  where reports go (default reports/<run-id>)
  --output <mode>     live (default on a terminal: one line per experiment with its phase, a countdown and the
                      load's p99 and error rate), plain (default elsewhere: log lines), json (one JSON event
                      per phase change on stdout, then the run's; people's lines go to stderr)
  --compare <run>     after the table, compare with a recorded run (last, last-passing or a run id)
  --fail-on-regression  exit 1 when --compare flags a regression
  --threshold <pct>   (run --compare, report diff) a p99 rise above this share is a regression (default 25)

On Kubernetes (run --env k8s; Chaos Mesh installed, docs/kubernetes.md):
  --kubeconfig <file> the cluster (default $KUBECONFIG, ~/.kube/config, or in-cluster)
  --prometheus <url>  the Prometheus scraping the services (or PROMETHEUS_URL): the verdicts come from it
  --load-targets <l>  user=URL,auth=URL,messaging=URL: run our load (--load builtin or k6) against them
  --verify <s>        the window after the fault in which the services must be steady (default 10)
  --scrape-delay <s>  waited so Prometheus has scraped a window's end before it is read (default 20)
  --condition-timeout <s>  how long Chaos Mesh may take to report AllInjected / AllRecovered (default 60)
  --delete-timeout <s>     how long a deleted chaos object may take to go before it is reported stuck (default 60)

Safety (environment): ALLOWED_NAMESPACES, CHAOS_REQUIRE_SAFE_LABEL=true, CHAOS_PROFILE=production,
CHAOS_SECURITY_MODE (default true), CHAOS_ACTOR. Exit codes: 0 all passed, 1 a hypothesis failed or an
experiment errored, 2 bad usage or invalid files, 130 interrupted.`;

export function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\nRun chaos --help for usage.\n`);
  process.exit(2);
}

/** Reads and validates files; prints every finding and exits 2 when any is an error. */
export function load(paths: string[]): Resource[] {
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

export interface UpState {
  pid: number;
  agent: string;
  token: string;
  /** The controller's REST API and its bearer token. */
  api: string;
  apiToken: string;
  services: Array<{ name: string; url: string; pid: number | undefined }>;
}
export const UP_FILE = join(STATE, 'up.json');
export function readUpState(): UpState | undefined {
  if (!existsSync(UP_FILE)) return undefined;
  const s = JSON.parse(readFileSync(UP_FILE, 'utf8')) as UpState;
  try {
    process.kill(s.pid, 0);
    return s;
  } catch {
    // Its controller is gone (SIGKILLed, the machine restarted): the file is stale, and goes.
    rmSync(UP_FILE, { force: true });
    return undefined;
  }
}

/** The environments `--env` names. */
export const ENVIRONMENTS = ['local', 'containers'] as const;

export function envName(value: string | undefined): (typeof ENVIRONMENTS)[number] {
  const name = value ?? process.env['CHAOS_ENV'] ?? 'local';
  if (!ENVIRONMENTS.includes(name as never))
    usage(
      `--env ${name}: expected ${ENVIRONMENTS.join(' or ')} (k8s is taken by chaos run and chaos plan: a cluster with Chaos Mesh)`,
    );
  return name as (typeof ENVIRONMENTS)[number];
}
