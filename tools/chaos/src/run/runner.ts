import {
  CHAOS_KINDS,
  parseDuration,
  seededRandom,
  type ChaosKind,
  type Resource,
  type SelectorSpec,
  type WorkflowResource,
} from '@nova/chaos-spec';
import { parseEffect, type FaultEffect } from '@nova/faults';
import { bearer, errorCodeOf, LEASE_MARGIN_MS, unary, type Fault } from '@nova/proto';
import { offersNetem } from '@nova/stack';
import type { ChaosEnvironment } from '../env/local.ts';
import { effectChecks, verdictOf } from '../verdict/evidence.ts';
import {
  evaluate,
  HALT_MIN_REQUESTS,
  HALT_WINDOW_MS,
  haltCheck,
  hypothesesFrom,
  type Check,
  type Halt,
  type Hypotheses,
  type Phases,
} from '../verdict/hypotheses.ts';
import { window, type LoadSource } from '../verdict/load.ts';
import type { Observer } from '../verdict/observe.ts';
import { checkPolicy, type ControllerAudit, type SafetyPolicy } from '../plan/policy.ts';
import { seedFaults } from '../plan/seeds.ts';
import { FaultSession, type FaultPort } from '../session/fault-session.ts';
import { planChaos, UnsupportedLocallyError, type ChaosPlan } from '../plan/translate.ts';
import { infrastructureError, type EnvironmentDeath } from './infrastructure.ts';
import { wait as sleep } from './wait.ts';
import { runWorkflow, unsupportedTemplates, type NodeResult } from './workflow.ts';

/** The verdict of one experiment. */
export interface ExperimentResult {
  name: string;
  kind: string;
  file: string;
  /**
   * `inconclusive`: every hypothesis held, but a fault showed no effect at its target, so the run proves
   * nothing about it (exit code 1, like a failure).
   */
  verdict: 'pass' | 'fail' | 'inconclusive' | 'error' | 'skipped';
  reason?: string;
  checks: Check[];
  phases?: Phases;
  /** Baseline and fault-window figures. */
  figures?: { baseline: ReturnType<typeof window>; fault: ReturnType<typeof window> };
  /** What was injected where. */
  injected: Array<{ target: string; kind: string; phase: string }>;
  workflow?: NodeResult;
  /** What each fault did, measured at its target (as the agent returned it at recovery). */
  /** Per recovered fault: what it did at its target, and how it ended (recovered, expired, target-gone...). */
  effects?: Array<{ target: string; kind: string; effect: FaultEffect | undefined; endedBy?: string }>;
  durationSeconds: number;
}

/** The steps of one experiment, in order. */
export type Phase = 'baseline' | 'inject' | 'hold' | 'recover' | 'verify' | 'done';

/** One experiment entering a phase (for progress displays and `--output json`). */
export interface PhaseEvent {
  /** `Kind/name` */
  experiment: string;
  phase: Phase;
  /** When it began, ms on the load's clock. */
  at: number;
  /** When it is planned to end at the latest, ms on the same clock (a countdown's end), if known. */
  endsAt?: number;
  /** What the phase is about, for people: the targets of an injection, the verdict's reason. */
  detail?: string;
  /** With `done`. */
  verdict?: ExperimentResult['verdict'];
}

/** Options of {@link Runner}. */
export interface RunnerOptions {
  runId: string;
  seed: number;
  baselineMs: number;
  policy: SafetyPolicy;
  audit: ControllerAudit;
  /** A line for people; `detail` lines (each fault injected) a live display leaves out. */
  log: (line: string, level?: 'detail') => void;
  /** Aborted by Ctrl-C: the current experiment recovers at once and the rest are skipped. */
  signal: AbortSignal;
  /** Called as each experiment enters a phase. */
  onPhase?: (e: PhaseEvent) => void;
  /** The environment's infrastructure deaths so far (PostgreSQL, the agent), restarted by its supervisor. */
  environmentDeaths?: () => readonly EnvironmentDeath[];
}

/** An experiment's result before it is judged: an error until a verdict replaces it. */
export function pendingResult(r: Resource): ExperimentResult {
  return {
    name: r.metadata.name,
    kind: r.kind,
    file: `${r.source.file}:${r.source.line}`,
    verdict: 'error',
    checks: [],
    injected: [],
    durationSeconds: 0,
  };
}

/**
 * Runs experiments one at a time against the local environment, under load:
 * baseline → inject → hold → recover → verify, then the verdict from the declared hypotheses.
 */
export class Runner implements FaultPort {
  private readonly random: () => number;
  private readonly md;
  /** Every (experiment uid) with faults possibly active: recovered on abort. */
  private readonly live = new Set<string>();
  /**
   * The faults recovered for each experiment `run` is running (its workflow nodes' uids start with its uid),
   * with their measured effect, for the verdict. Recoveries of other uids (the REST API) are not kept.
   */
  private readonly collecting = new Map<string, Fault[]>();
  /** Service names of the targets faults were applied to (a killed target is gone from the agent's list). */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly env: ChaosEnvironment,
    private readonly load: LoadSource,
    private readonly observer: Observer,
    private readonly options: RunnerOptions,
  ) {
    this.random = seededRandom(options.seed);
    this.md = bearer(env.agent.token);
  }

  /** Plans a chaos spec against the registered targets (the blast radius), checking the policy. */
  async plan(kind: ChaosKind, spec: Record<string, unknown>, r: Resource, durationMs?: number): Promise<ChaosPlan> {
    const targets = await this.env.targets();
    const plan = planChaos(kind, spec as Record<string, unknown> & SelectorSpec, targets, this.random, {
      namespace: r.metadata.namespace,
      defaultDurationMs: 10_000,
      dataDirOf: (t) => this.env.dataDirOf(t),
      layer: { layer: this.env.layer, netem: offersNetem(this.env.kinds) },
      ...(durationMs !== undefined ? { durationMs } : {}),
    });
    const offered = new Set(this.env.kinds.map((k) => k.kind));
    const missing = [...new Set(plan.faults.map((f) => f.kind))].filter((k) => !offered.has(k));
    if (missing.length)
      throw new UnsupportedLocallyError(
        `${r.kind}/${r.metadata.name} needs the fault kind(s) ${missing.join(', ')}, which the agent of the ` +
          `${this.env.name} environment does not offer (it offers: ${[...offered].join(', ')})`,
      );
    const objections = checkPolicy(r, plan.selected, this.options.policy);
    if (objections.length) {
      this.options.audit.write('run', `${r.kind}/${r.metadata.name}`, 'denied', objections.join('; '));
      throw new Error(`refused by the safety policy:\n  ${objections.join('\n  ')}`);
    }
    return plan;
  }

  /** Applies a plan's faults (lease = duration + 2 s as the safety net) and returns how to recover them. */
  async inject(uid: string, plan: ChaosPlan, injected: ExperimentResult['injected']): Promise<void> {
    const client = this.env.agent.client;
    this.live.add(uid);
    for (const note of plan.notes) this.options.log(`    note: ${note}`);
    // The experiment's name without the run id, so the faults' seeds are the same in every run of this seed.
    const experiment = uid.startsWith(`${this.options.runId}-`) ? uid.slice(this.options.runId.length + 1) : uid;
    for (const f of seedFaults(plan.faults, this.options.seed, experiment)) {
      const { fault } = await unary(
        client.applyFault.bind(client),
        {
          experimentUid: uid,
          targetId: f.target.id,
          kind: f.kind,
          specJson: JSON.stringify(f.spec),
          leaseMs: plan.durationMs + LEASE_MARGIN_MS,
          actor: this.options.policy.actor ?? 'controller',
        },
        this.md,
      );
      injected.push({ target: f.target.id, kind: f.kind, phase: (fault as Fault).phase });
      this.names.set(f.target.id, f.target.name);
      this.options.audit.write('apply', `${uid} ${f.kind} → ${f.target.id}`, 'ok');
      this.options.log(`    injected ${f.kind} into ${f.target.name} (${f.target.id})`, 'detail');
    }
  }

  /** Recovers an experiment's faults; returns them as the agent recorded them (phase, effect). */
  async recover(uid: string): Promise<Fault[]> {
    const client = this.env.agent.client;
    const { faults } = await unary(
      client.recoverFault.bind(client),
      { experimentUid: uid, actor: this.options.policy.actor ?? 'controller' },
      this.md,
      10_000,
    );
    this.live.delete(uid);
    const failed = (faults as Fault[]).filter((f) => f.phase === 'failed');
    this.options.audit.write(
      'recover',
      uid,
      failed.length ? 'failed' : 'ok',
      failed.map((f) => `${f.kind} on ${f.targetId}: ${f.error}`).join('; ') || undefined,
    );
    for (const [key, list] of this.collecting)
      if (uid === key || uid.startsWith(`${key}-`)) list.push(...(faults as Fault[]));
    return faults as Fault[];
  }

  /** The faults active in the agent now, each with what it has done so far (services report it every second). */
  async activeFaults(): Promise<Fault[]> {
    const client = this.env.agent.client;
    return (await unary(client.listFaults.bind(client), {}, this.md)).faults as Fault[];
  }

  /** Recovers every experiment with faults possibly active (Ctrl-C, errors). */
  async recoverAll(): Promise<void> {
    for (const uid of [...this.live]) await this.recover(uid).catch(() => undefined);
  }

  private async leftovers(uid: string): Promise<number> {
    const client = this.env.agent.client;
    const { faults } = await unary(client.listFaults.bind(client), {}, this.md);
    return (faults as Fault[]).filter((f) => f.experimentUid.startsWith(uid)).length;
  }

  /** Waits until every instance is healthy and a 1 s window of load is as good as the baseline. */
  private async waitRecovered(after: number, threshold: number, limitMs: number): Promise<number | undefined> {
    const deadline = this.load.now() + limitMs;
    while (this.load.now() < deadline && !this.options.signal.aborted) {
      await sleep(250, this.options.signal);
      const now = this.load.now();
      const healthy =
        this.env.instances.every((i) => i.running) && (this.observer.observations.at(-1)?.at ?? 0) > after;
      const last = this.observer.observations.at(-1);
      const allUp = healthy && last !== undefined && Object.values(last.healthy).every(Boolean);
      // Steady again: the newest full second of requests after the fault ended is within the baseline's errors.
      for (let t = after; t + 1000 <= now; t += 250) {
        const w = window(this.load.samples, t, t + 1000);
        if (allUp && w.count > 0 && w.errorRate <= threshold) return t;
      }
    }
    return undefined;
  }

  /** Runs one resource end to end; its phases (and finally `done` with the verdict) go to `onPhase`. */
  async run(r: Resource): Promise<ExperimentResult> {
    const started = Date.now();
    const result = infrastructureError(await this.execute(r), this.options.environmentDeaths?.() ?? [], started);
    this.options.onPhase?.({
      experiment: `${r.kind}/${r.metadata.name}`,
      phase: 'done',
      at: this.load.now(),
      verdict: result.verdict,
      ...(result.reason !== undefined ? { detail: result.reason } : {}),
    });
    return result;
  }

  private async execute(r: Resource): Promise<ExperimentResult> {
    const started = Date.now();
    const uid = `${this.options.runId}-${r.metadata.name}`;
    const base = pendingResult(r);
    if (r.kind === 'Schedule') {
      return {
        ...base,
        verdict: 'skipped',
        reason: `a Schedule (${r.spec.schedule}) runs under \`chaos schedule\`, not in a suite run`,
      };
    }
    const { signal } = this.options;
    const experiment = `${r.kind}/${r.metadata.name}`;
    const phase = (p: Phase, more: Omit<PhaseEvent, 'experiment' | 'phase' | 'at'> = {}): void =>
      this.options.onPhase?.({ experiment, phase: p, at: this.load.now(), ...more });
    const recovered: Fault[] = [];
    this.collecting.set(uid, recovered);
    try {
      const h = hypothesesFrom(r.metadata.annotations);
      if (h.requestDeadlineMs !== undefined && !this.load.setRequestDeadline) {
        return {
          ...base,
          verdict: 'skipped',
          reason:
            'nova.dev/request-deadline-ms needs a load that sends a budget per experiment: run it with --load builtin',
        };
      }
      if (h.surge !== undefined && !this.load.setSurge) {
        return {
          ...base,
          verdict: 'skipped',
          reason: 'nova.dev/load-surge needs a load that can change its rate mid-run: run it with --load builtin',
        };
      }
      this.load.setRequestDeadline?.(h.requestDeadlineMs);
      // Everything is planned and checked before anything is injected.
      let plan: ChaosPlan | undefined;
      if (r.kind === 'Workflow') {
        const problems = unsupportedTemplates(r.spec);
        if (problems.length) throw new Error(problems.join('; '));
      } else plan = await this.plan(r.kind, r.spec as Record<string, unknown>, r);

      const baselineStart = this.load.now();
      phase('baseline', { endsAt: baselineStart + this.options.baselineMs });
      await sleep(this.options.baselineMs, signal);
      const faultStart = this.load.now();
      // The surge is part of the fault: it starts and ends with the hold, and the recovery is judged without it.
      if (h.surge) this.load.setSurge?.(h.surge);
      const { workflow, halt } = await this.faultPhase(r, uid, plan, h, base.injected, phase);
      const faultEnd = this.load.now();
      this.load.setSurge?.(undefined);
      const limitMs = (h.maxRecoverySeconds + 3) * 1000;
      phase('verify', { endsAt: faultEnd + limitMs });
      const baseline = window(this.load.samples, baselineStart, faultStart);
      const recoveredAt = await this.waitRecovered(faultEnd, Math.max(baseline.errorRate, 0.01), limitMs);
      if (signal.aborted)
        return { ...base, verdict: 'skipped', reason: 'interrupted', durationSeconds: (Date.now() - started) / 1000 };
      const phases: Phases = { baselineStart, faultStart, faultEnd, recoveredAt };
      const nameOf = (id: string): string => this.names.get(id) ?? id;
      const evidence = effectChecks(recovered, nameOf, base.injected);
      const checks = [
        ...evaluate(h, this.load.samples, this.observer, phases, await this.leftovers(uid)),
        ...haltCheck(h, halt),
        ...evidence,
      ];
      return {
        ...base,
        verdict: verdictOf(checks, workflow?.status === 'failed'),
        checks,
        phases,
        figures: { baseline, fault: window(this.load.samples, faultStart, faultEnd) },
        effects: recovered.map((f) => ({
          target: nameOf(f.targetId),
          kind: f.kind,
          effect: parseEffect(f.effectJson),
          ...(f.endedBy ? { endedBy: f.endedBy } : {}),
        })),
        ...(workflow ? { workflow } : {}),
        durationSeconds: (Date.now() - started) / 1000,
      };
    } catch (error) {
      // The stable code (the agent's trailer, or our own error's) goes with the message into the report.
      const code = errorCodeOf(error);
      return {
        ...base,
        verdict: 'error',
        reason: code ? `${(error as Error).message} (${code})` : (error as Error).message,
        durationSeconds: (Date.now() - started) / 1000,
      };
    } finally {
      this.load.setRequestDeadline?.(undefined);
      this.load.setSurge?.(undefined);
      this.collecting.delete(uid);
    }
  }

  /**
   * Injects the plan's faults and holds them (a halt condition may end the hold early), or runs the Workflow;
   * then, whatever happened, recovers everything this runner has active.
   */
  private async faultPhase(
    r: Resource,
    uid: string,
    plan: ChaosPlan | undefined,
    h: Hypotheses,
    injected: ExperimentResult['injected'],
    phase: (p: Phase, more?: Omit<PhaseEvent, 'experiment' | 'phase' | 'at'>) => void,
  ): Promise<{ workflow?: NodeResult; halt?: Halt }> {
    const { signal } = this.options;
    let session: FaultSession | undefined;
    try {
      if (!plan) {
        phase('hold', { detail: 'workflow' });
        return { workflow: await this.runWorkflow(r as WorkflowResource, uid, injected) };
      }
      phase('inject', {
        detail: `for ${plan.durationMs / 1000} s on ${plan.selected.map((t) => t.name).join(', ')} (of ${plan.matching.length} matching)`,
      });
      session = new FaultSession(uid, plan, this);
      await session.inject(injected);
      phase('hold', { endsAt: this.load.now() + plan.durationMs });
      const halt = await this.hold(plan.durationMs, h, signal);
      if (halt) this.options.log(`    halted: ${halt.how}`);
      return halt ? { halt } : {};
    } finally {
      phase('recover');
      await session?.recover().catch(() => undefined);
      // Whatever else may be active (a Workflow's nodes, a recovery that failed above): recovered here.
      await this.recoverAll();
    }
  }

  /**
   * Holds the fault for `ms`; with a halt condition (`nova.dev/abort-error-rate`), ends the hold early when the
   * error rate of the last {@link HALT_WINDOW_MS} exceeds it (the caller recovers the fault either way).
   */
  private async hold(ms: number, h: Hypotheses, signal: AbortSignal): Promise<Halt | undefined> {
    const start = this.load.now();
    if (h.abortErrorRate === undefined) {
      await sleep(ms, signal);
      return undefined;
    }
    while (this.load.now() - start < ms && !signal.aborted) {
      await sleep(Math.min(500, ms - (this.load.now() - start)), signal);
      const now = this.load.now();
      const w = window(this.load.samples, Math.max(start, now - HALT_WINDOW_MS), now);
      if (w.count >= HALT_MIN_REQUESTS && w.errorRate > h.abortErrorRate)
        return { errorRate: w.errorRate, count: w.count, afterMs: now - start, how: 'the fault recovered at once' };
    }
    return undefined;
  }

  private runWorkflow(r: WorkflowResource, uid: string, injected: ExperimentResult['injected']): Promise<NodeResult> {
    let n = 0;
    return runWorkflow(
      r.spec,
      {
        now: () => this.load.now(),
        onNode: (e) =>
          this.options.log(
            `    workflow node ${e.node} (${e.templateType}) ${e.phase}${e.status ? `: ${e.status}` : ''}`,
          ),
        runChaos: async (template, kind, spec, nodeSignal) => {
          if (!(CHAOS_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown chaos kind ${kind}`);
          const deadline = template.deadline ? parseDuration(template.deadline)! : 10_000;
          const plan = await this.plan(kind, spec, r, deadline);
          await new FaultSession(`${uid}-${n++}-${template.name}`, plan, this).runFor(nodeSignal, injected);
        },
      },
      this.options.signal,
    );
  }
}
