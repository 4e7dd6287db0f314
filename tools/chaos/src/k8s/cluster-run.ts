import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { crdPlural, parseDuration, seededRandom, type Kind, type Resource } from '@nova/chaos-spec';
import { verdictOf } from '../verdict/evidence.ts';
import {
  HALT_MIN_REQUESTS,
  HALT_WINDOW_MS,
  haltCheck,
  hypothesesFrom,
  type Check,
  type Halt,
  type Hypotheses,
} from '../verdict/hypotheses.ts';
import type { ControllerAudit, SafetyPolicy } from '../plan/policy.ts';
import { pendingResult, type ExperimentResult, type PhaseEvent } from '../run/runner.ts';
import { wait } from '../run/wait.ts';
import {
  ChaosObjects,
  clearFinalizersCommand,
  hasCondition,
  PAUSE_ANNOTATION,
  type ChaosObject,
} from './chaos-objects.ts';
import { clusterChecks, recordChecks } from './cluster-checks.ts';
import { planOnCluster, type ClusterPlanEntry } from './cluster-plan.ts';
import { windowFigures, type Prometheus } from './promql.ts';

/** Options of {@link runOnCluster}; times in ms. */
export interface ClusterRunOptions {
  kubeconfig: KubeConfig;
  prometheus: Prometheus;
  policy: SafetyPolicy;
  audit: ControllerAudit;
  signal: AbortSignal;
  log: (line: string) => void;
  onPhase?: (e: PhaseEvent) => void;
  /** Steady state measured before each injection. Default 10 s. */
  baselineMs?: number;
  /** The window after the fault in which the services must be steady. Default 10 s. */
  verifyMs?: number;
  /** How long Chaos Mesh may take to report AllInjected, and AllRecovered after the duration. Default 60 s. */
  conditionTimeoutMs?: number;
  /** How long a deleted object may take to go (Chaos Mesh's finalizer recovers first). Default 60 s. */
  deleteTimeoutMs?: number;
  /** How long an experiment without `duration` is held before it is deleted. Default 30 s. */
  defaultHoldMs?: number;
  /** Waited before reading a window's figures, so Prometheus has scraped its end. Default 20 s (15 s scrapes). */
  scrapeDelayMs?: number;
  /** Namespace of objects that name none. Default `default`. */
  namespace?: string;
  /** How often the status is read. Default 500 ms. */
  pollMs?: number;
  /**
   * When our load drives the services (built-in or k6): its own figures between two instants (ms since the
   * epoch), judged beside Prometheus' (what the users saw, not only what the services answered).
   */
  clientWindow?: (fromMs: number, toMs: number) => { count: number; errorRate: number; p99: number };
  /** The load's name for the checks (`built-in load`, `k6`). */
  clientName?: string;
}

const KINDS = new Set(['NetworkChaos', 'PodChaos', 'StressChaos', 'IOChaos', 'HTTPChaos', 'TimeChaos', 'DNSChaos']);

/**
 * `chaos run --env k8s`: each chaos experiment on a real cluster, with Chaos Mesh as the engine. Per experiment:
 * the safety policy over the pods the API server selects, a baseline, server-side apply, Chaos Mesh's
 * AllInjected, the hold (Chaos Mesh recovers at `duration`: AllRecovered), a verify window, then the hypotheses
 * from Prometheus and the evidence from Chaos Mesh's records, and the object deleted. On abort (Ctrl-C) or error
 * the object is deleted at once; one stuck on its finalizers is reported with the command that clears them.
 */
export async function runOnCluster(resources: readonly Resource[], o: ClusterRunOptions): Promise<ExperimentResult[]> {
  const objects = new ChaosObjects(o.kubeconfig);
  const core = o.kubeconfig.makeApiClient(CoreV1Api);
  const results: ExperimentResult[] = [];
  for (const r of resources) {
    if (o.signal.aborted) break;
    const started = Date.now();
    const result = pendingResult(r);
    results.push(result);
    try {
      await runOne(r, result, objects, core, o);
    } catch (error) {
      result.verdict = 'error';
      result.reason = (error as Error).message;
    }
    result.durationSeconds = Math.round((Date.now() - started) / 1000);
    o.onPhase?.({ experiment: `${r.kind}/${r.metadata.name}`, phase: 'done', at: Date.now(), verdict: result.verdict });
    o.log(`${result.verdict.toUpperCase()} ${r.kind}/${r.metadata.name}${result.reason ? `: ${result.reason}` : ''}`);
  }
  return results;
}

async function runOne(
  r: Resource,
  result: ExperimentResult,
  objects: ChaosObjects,
  core: CoreV1Api,
  o: ClusterRunOptions,
): Promise<void> {
  const label = `${r.kind}/${r.metadata.name}`;
  if (!KINDS.has(r.kind)) {
    result.verdict = 'skipped';
    result.reason = `${r.kind} is not judged on a cluster yet: apply it with kubectl (Chaos Mesh runs it); chaos run --env k8s judges single chaos objects`;
    return;
  }
  const hypotheses = hypothesesFrom(r.metadata.annotations ?? {});
  const { plan, manifest } = await admit(r, label, objects, core, o);
  const poll = o.pollMs ?? 500;
  const timeout = o.conditionTimeoutMs ?? 60_000;
  const scrape = o.scrapeDelayMs ?? 20_000;
  const baselineStart = Date.now();
  o.onPhase?.({
    experiment: label,
    phase: 'baseline',
    at: baselineStart,
    endsAt: baselineStart + (o.baselineMs ?? 10_000),
  });
  await wait(o.baselineMs ?? 10_000, o.signal);
  interrupted(o.signal);

  let applied = false;
  try {
    o.onPhase?.({
      experiment: label,
      phase: 'inject',
      at: Date.now(),
      detail: plan?.selected.map((p) => p.name).join(', '),
    });
    await objects.apply(manifest);
    applied = true;
    o.audit.write('k8s-apply', `${label} in ${manifest.metadata!.namespace}`, 'ok');
    const injected = await until(
      () => objects.read(manifest),
      (x) => hasCondition(x, 'AllInjected'),
      timeout,
      poll,
      o.signal,
    );
    interrupted(o.signal);
    if (!hasCondition(injected, 'AllInjected'))
      throw new Error(
        `Chaos Mesh did not report AllInjected within ${timeout / 1000} s (is its controller running? conditions: ${describe(injected)})`,
      );
    const faultStart = Date.now();
    const duration = (r.spec as Record<string, unknown>)['duration'];
    const durationMs = typeof duration === 'string' ? parseDuration(duration) : undefined;
    o.onPhase?.({
      experiment: label,
      phase: 'hold',
      at: faultStart,
      endsAt: faultStart + (durationMs ?? o.defaultHoldMs ?? 30_000),
    });
    const { last, halt } = await holdOnCluster(objects, manifest, hypotheses, o, faultStart, durationMs);
    interrupted(o.signal);
    if (durationMs === undefined) {
      // No duration: Chaos Mesh would hold it until deleted; we delete it at the end of our hold.
      await deleteAndWait(objects, manifest, o);
      applied = false;
    } else if (!halt && !hasCondition(last, 'AllRecovered'))
      throw new Error(
        `Chaos Mesh did not report AllRecovered within ${(durationMs + timeout) / 1000} s of AllInjected`,
      );
    const faultEnd = Date.now();
    o.onPhase?.({
      experiment: label,
      phase: 'verify',
      at: faultEnd,
      endsAt: faultEnd + (o.verifyMs ?? 10_000) + scrape,
    });
    await wait(o.verifyMs ?? 10_000, o.signal);
    const verifyEnd = Date.now();
    await wait(scrape, o.signal);
    interrupted(o.signal);
    await judge(result, r.kind, hypotheses, last, halt, { baselineStart, faultStart, faultEnd, verifyEnd }, o);
  } finally {
    // Whatever happened (Ctrl-C, a timeout, Prometheus gone): the object goes, so Chaos Mesh recovers the fault.
    if (applied) await deleteAndWait(objects, manifest, o);
  }
}

/**
 * Before anything is applied: an actor when security mode is on, the blast radius as the API server
 * evaluates it, the safety policy over it, and no object of the same name on the cluster. Throws on any
 * refusal, having touched nothing.
 */
async function admit(
  r: Resource,
  label: string,
  objects: ChaosObjects,
  core: CoreV1Api,
  o: ClusterRunOptions,
): Promise<{ plan: ClusterPlanEntry | undefined; manifest: ChaosObject }> {
  // The plan below looks without an actor; applying needs one, as everywhere (CHAOS_SECURITY_MODE).
  if (o.policy.securityMode && !o.policy.actor)
    throw new Error('refused by the safety policy: security mode is on and no actor is known: set CHAOS_ACTOR');
  // The blast radius as the API server evaluates it, and the safety policy over it: nothing is applied on a refusal.
  const [plan] = await planOnCluster([r], core, o.policy, seededRandom(1));
  if (plan?.error) throw new Error(`planning: ${plan.error}`);
  if (plan && plan.objections.length) throw new Error(`refused by the safety policy: ${plan.objections.join('; ')}`);
  if (plan && plan.matching.length === 0) throw new Error('the selector matches no pod on the cluster');
  // An object of that name already on the cluster belongs to someone else (another run, a person): its status
  // would be read as ours, and our deletion would end their experiment. Refuse, and touch nothing.
  const manifest = ChaosObjects.manifest(r, o.namespace ?? 'default');
  const ns = manifest.metadata!.namespace!;
  if (await objects.read(manifest))
    throw new Error(
      `${label} already exists in ${ns} (another run's, or someone's): nothing applied; delete it (kubectl delete ${crdPlural(r.kind as Kind)}.chaos-mesh.org/${r.metadata.name} -n ${ns}) or rename this experiment`,
    );
  return { plan, manifest };
}

/** The figures of the three windows from Prometheus, and the verdict of the experiment's checks on them. */
async function judge(
  result: ExperimentResult,
  kind: string,
  hypotheses: Hypotheses,
  last: ChaosObject | undefined,
  halt: Halt | undefined,
  phases: { baselineStart: number; faultStart: number; faultEnd: number; verifyEnd: number },
  o: ClusterRunOptions,
): Promise<void> {
  const { baselineStart, faultStart, faultEnd, verifyEnd } = phases;
  const [baseline, fault, after] = await Promise.all([
    windowFigures(o.prometheus, faultStart, faultStart - baselineStart),
    windowFigures(o.prometheus, faultEnd, faultEnd - faultStart),
    windowFigures(o.prometheus, verifyEnd, verifyEnd - faultEnd),
  ]);
  result.figures = { baseline, fault };
  result.phases = { baselineStart, faultStart, faultEnd, recoveredAt: verifyEnd };
  result.injected = (last?.status?.experiment?.containerRecords ?? []).map((x) => ({
    target: x.id,
    kind,
    phase: x.phase,
  }));
  result.checks = [
    ...(await clusterChecks(hypotheses, o.prometheus, phases, fault, after)),
    ...clientChecks(hypotheses, o, faultStart, faultEnd),
    ...haltCheck(hypotheses, halt),
    ...recordChecks(last),
  ];
  result.verdict = verdictOf(result.checks);
  if (result.verdict !== 'pass')
    result.reason = result.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.name}: ${c.measured} (expected ${c.expected})`)
      .join('; ');
}

/**
 * Holds the fault: until Chaos Mesh reports AllRecovered (with a duration) or for the default hold. With a halt
 * condition (`nova.dev/abort-error-rate`), every 2 s the recent error rate is read from Prometheus; above the
 * threshold, the experiment is paused through Chaos Mesh's annotation (it recovers the fault at once and keeps
 * the object and its records) and the hold ends.
 */
async function holdOnCluster(
  objects: ChaosObjects,
  manifest: ChaosObject,
  h: Hypotheses,
  o: ClusterRunOptions,
  faultStart: number,
  durationMs: number | undefined,
): Promise<{ last: ChaosObject | undefined; halt?: Halt }> {
  const timeout = o.conditionTimeoutMs ?? 60_000;
  const poll = o.pollMs ?? 500;
  const end = faultStart + (durationMs !== undefined ? durationMs + timeout : (o.defaultHoldMs ?? 30_000));
  // Prometheus needs two scrapes in a window for a rate: at least the scrape delay's worth of it.
  const windowMs = Math.max(HALT_WINDOW_MS, o.scrapeDelayMs ?? 20_000);
  let nextCheck = faultStart + 2_000;
  for (;;) {
    const last = await objects.read(manifest);
    const over = durationMs !== undefined && hasCondition(last, 'AllRecovered');
    if (over || Date.now() >= end || o.signal.aborted) return { last };
    if (h.abortErrorRate !== undefined && Date.now() >= nextCheck) {
      nextCheck = Date.now() + 2_000;
      const f = await windowFigures(o.prometheus, Date.now(), windowMs);
      if (f.count >= HALT_MIN_REQUESTS && f.errorRate > h.abortErrorRate) {
        await objects.setPaused(manifest, true);
        o.audit.write('k8s-pause', `${manifest.kind}/${manifest.metadata!.name}`, 'ok', 'halt condition');
        const paused = await until(
          () => objects.read(manifest),
          (x) => hasCondition(x, 'Paused'),
          timeout,
          poll,
          o.signal,
        );
        const how = hasCondition(paused, 'Paused')
          ? `paused through ${PAUSE_ANNOTATION} (Chaos Mesh confirmed Paused)`
          : `paused through ${PAUSE_ANNOTATION}, but Chaos Mesh did not confirm Paused within ${timeout / 1000} s: deleted`;
        return {
          last: paused,
          halt: { errorRate: f.errorRate, count: f.count, afterMs: Date.now() - faultStart, how },
        };
      }
    }
    await wait(Math.max(0, Math.min(poll, end - Date.now())), o.signal);
  }
}

/** Deletes the object and waits until it is gone; an object held by its finalizers is an error naming the fix. */
async function deleteAndWait(objects: ChaosObjects, manifest: ChaosObject, o: ClusterRunOptions): Promise<void> {
  const label = `${manifest.kind}/${manifest.metadata!.name}`;
  await objects.delete(manifest);
  const limit = o.deleteTimeoutMs ?? 60_000;
  // Not the run's signal: a Ctrl-C must still see the object go.
  const left = await until(
    () => objects.read(manifest),
    (x) => x === undefined,
    limit,
    o.pollMs ?? 500,
    new AbortController().signal,
  );
  if (left === undefined) {
    o.audit.write('k8s-delete', `${label} in ${manifest.metadata!.namespace}`, 'ok');
    return;
  }
  const finalizers = left.metadata?.finalizers ?? [];
  o.audit.write(
    'k8s-delete',
    `${label} in ${manifest.metadata!.namespace}`,
    'failed',
    `stuck on ${finalizers.join(', ')}`,
  );
  throw new Error(
    `${label} is still there ${limit / 1000} s after its deletion, held by the finalizers ${finalizers.join(', ') || '(none)'}: Chaos Mesh has not recovered it (is its controller running?). Check the pods, then clear them with: ${clearFinalizersCommand({ kind: manifest.kind!, name: manifest.metadata!.name!, namespace: manifest.metadata!.namespace! })}`,
  );
}

/** Reads until `ok` holds, `timeoutMs` passes or `signal` aborts; returns the last value read. */
async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  pollMs: number,
  signal: AbortSignal,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() >= end || signal.aborted) return value;
    await wait(Math.min(pollMs, Math.max(0, end - Date.now())), signal);
  }
}

/** The load's own view of the fault window, when the load is ours: error rate and p99 as its users saw them. */
function clientChecks(h: Hypotheses, o: ClusterRunOptions, from: number, to: number): Check[] {
  if (!o.clientWindow) return [];
  const w = o.clientWindow(from, to);
  const who = o.clientName ?? 'the load';
  const checks: Check[] = [
    {
      name: `error rate seen by ${who} during the fault`,
      ok: w.count > 0 && w.errorRate <= h.maxErrorRate,
      measured: w.count > 0 ? `${(w.errorRate * 100).toFixed(1)} % of ${w.count} requests` : 'no request completed',
      expected: `<= ${(h.maxErrorRate * 100).toFixed(1)} %`,
    },
  ];
  if (h.maxP99Ms !== undefined)
    checks.push({
      name: `p99 seen by ${who} during the fault`,
      ok: w.p99 <= h.maxP99Ms,
      measured: `${Math.round(w.p99)} ms`,
      expected: `<= ${h.maxP99Ms} ms`,
    });
  return checks;
}

function interrupted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error('interrupted: the chaos object is deleted, so Chaos Mesh recovers its fault');
}

const describe = (x: ChaosObject | undefined): string =>
  x?.status?.conditions?.map((c) => `${c.type}=${c.status}`).join(', ') || 'none written';
