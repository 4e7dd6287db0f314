import { randomUUID } from 'node:crypto';
import { parseDuration, type ChaosResource, type WorkflowResource } from '@nova/chaos-spec';
import { parseEffect } from '@nova/faults';
import { errorCodeOf, type Fault } from '@nova/proto';
import type { ControllerAudit } from '../plan/policy.ts';
import type { Runner } from '../run/runner.ts';
import { FaultSession } from '../session/fault-session.ts';
import { wait } from '../run/wait.ts';
import { runWorkflow, unsupportedTemplates } from '../run/workflow.ts';
import { ApiError } from './errors.ts';

/** One experiment started through the API. */
export interface ApiExperiment {
  id: string;
  name: string;
  kind: string;
  phase: 'scheduled' | 'injected' | 'paused' | 'recovered' | 'failed';
  startedAt: string | undefined;
  endsAt: string | undefined;
  recoveredAt: string | undefined;
  /** The Schedule that spawned it, when one did. */
  schedule?: string;
  faults: Array<{ target: string; kind: string }>;
  /** Each selected target's phase: selected → injected → recovered (Chaos Mesh's records). */
  targets: Array<{ target: string; phase: 'selected' | 'injected' | 'recovered' }>;
  /** What each fault did, measured at its target (`took` false: it had no effect); live while it runs. */
  effects?: Array<{ target: string; kind: string; took: boolean; summary: string }>;
  error?: string;
  /** The stable code of `error` (e.g. the agent's `AGENT_ERR_*`), when it has one. */
  errorCode?: string;
}

/** A fault's effect for the API: whether it took, and the one-line summary. */
function effectOf(f: Fault): { took: boolean; summary: string } {
  const effect = parseEffect(f.effectJson);
  return { took: effect?.took ?? false, summary: effect?.summary ?? 'no effect reported' };
}

/** What starting an experiment may add. */
export interface StartOptions {
  /** Inject this many ms from now (after a client's baseline, say). Default 0. */
  delayMs?: number;
  /** The Schedule spawning it. */
  schedule?: string;
}

/**
 * The experiments the API runs, each through Chaos Mesh's phases: scheduled → injected ⇄ paused → recovered or
 * failed. A chaos object's faults are a {@link FaultSession} (expiry, the time a pause keeps, idempotent
 * recovery); this class adds the start delay, the Workflows running in the background and the records the API
 * shows; every change is audited with the principal that asked for it.
 */
export class ExperimentManager {
  readonly experiments = new Map<string, ApiExperiment>();
  private readonly sessions = new Map<string, FaultSession>();
  /** Experiments started with a delay, until they inject. */
  private readonly delays = new Map<string, NodeJS.Timeout>();
  private readonly workflows = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly ended = new Map<string, { promise: Promise<ApiExperiment>; resolve(e: ApiExperiment): void }>();

  constructor(
    private readonly runner: Runner,
    private readonly audit: ControllerAudit,
    /** Longest fault the API starts, in ms. */
    private readonly maxDurationMs: number,
  ) {}

  /** Starts a chaos object or a Workflow; a chaos object is injected before this returns (unless delayed). */
  async start(r: ChaosResource | WorkflowResource, actor: string, opts: StartOptions = {}): Promise<ApiExperiment> {
    if (r.kind === 'Workflow') return this.startWorkflow(r, actor);
    const plan = await this.runner.plan(r.kind, r.spec as Record<string, unknown>, r).catch((e: Error) => {
      const cause = errorCodeOf(e);
      throw new ApiError(422, e.message, cause ? { cause } : {});
    });
    if (plan.durationMs > this.maxDurationMs)
      throw new ApiError(400, `spec.duration must be at most ${this.maxDurationMs / 1000} s through the API`);
    const exp = this.add(r, 'scheduled', opts.schedule);
    exp.faults = plan.faults.map((f) => ({ target: f.target.id, kind: f.kind }));
    exp.targets = plan.selected.map((t) => ({ target: t.id, phase: 'selected' }));
    const session = new FaultSession(exp.id, plan, this.runner, { onExpire: () => this.expire(exp) });
    this.sessions.set(exp.id, session);
    this.audit.write('api-start', `${exp.id} ${r.kind}/${r.metadata.name}`, 'ok', `by ${actor}`);
    const inject = async (): Promise<void> => {
      this.delays.delete(exp.id);
      if (exp.phase !== 'scheduled') return;
      try {
        await session.inject();
        this.markInjected(exp, session);
      } catch (error) {
        // The session recovered whatever landed before the failure.
        exp.phase = 'failed';
        exp.error = (error as Error).message;
        const code = errorCodeOf(error);
        if (code) exp.errorCode = code;
        this.end(exp);
      }
    };
    if (!opts.delayMs) await inject();
    else
      this.delays.set(
        exp.id,
        setTimeout(() => void inject(), opts.delayMs),
      );
    return exp;
  }

  /** The experiment `id`, or a 404. */
  get(id: string): ApiExperiment {
    const exp = this.experiments.get(id);
    if (!exp) throw new ApiError(404, `no experiment ${id}`);
    return exp;
  }

  /** Resolves when the experiment is recovered or failed. */
  whenEnded(id: string): Promise<ApiExperiment> {
    return this.ended.get(id)?.promise ?? Promise.resolve(this.get(id));
  }

  /** Chaos Mesh's pause: the fault is recovered but the experiment stays, with the time it had left. */
  async pause(id: string, actor: string): Promise<ApiExperiment> {
    const exp = this.get(id);
    if (exp.phase !== 'injected') throw new ApiError(409, `experiment ${id} is ${exp.phase}, not injected`);
    if (exp.kind === 'Workflow') throw new ApiError(409, 'a Workflow is not paused (as in Chaos Mesh): stop it');
    const session = this.sessions.get(id)!;
    await session.pause();
    this.recordEffects(exp, session.faults);
    exp.phase = 'paused';
    for (const t of exp.targets) t.phase = 'recovered';
    this.audit.write('api-pause', id, 'ok', `by ${actor}`);
    return exp;
  }

  /** Injects a paused experiment again for the time it had left. */
  async resume(id: string, actor: string): Promise<ApiExperiment> {
    const exp = this.get(id);
    if (exp.phase !== 'paused') throw new ApiError(409, `experiment ${id} is ${exp.phase}, not paused`);
    const session = this.sessions.get(id)!;
    await session.resume();
    this.markInjected(exp, session);
    this.audit.write('api-resume', id, 'ok', `by ${actor}`);
    return exp;
  }

  /** Recovers the experiment (a Workflow: aborts it); idempotent. */
  async stop(id: string, actor: string): Promise<ApiExperiment> {
    const exp = this.get(id);
    const wf = this.workflows.get(id);
    if (wf) {
      wf.abort.abort();
      await wf.done;
      this.audit.write('api-stop', id, 'ok', `by ${actor}`);
      return exp;
    }
    clearTimeout(this.delays.get(id));
    this.delays.delete(id);
    const session = this.sessions.get(id);
    if (session && (exp.phase === 'scheduled' || exp.phase === 'injected' || exp.phase === 'paused')) {
      const failed = this.recordEffects(exp, await session.recover());
      exp.phase = failed ? 'failed' : 'recovered';
      if (failed) exp.error = `recovery failed: ${failed}`;
      exp.recoveredAt = new Date().toISOString();
      for (const t of exp.targets) t.phase = 'recovered';
      this.audit.write('api-stop', id, failed ? 'failed' : 'ok', failed ? `by ${actor}: ${exp.error}` : `by ${actor}`);
      this.end(exp);
    }
    return exp;
  }

  /** Every experiment, with what the faults of the injected ones have done so far (from the agent). */
  async list(): Promise<ApiExperiment[]> {
    const running = [...this.experiments.values()].filter((e) => e.phase === 'injected');
    if (running.length) {
      const faults = await this.runner.activeFaults().catch(() => [] as Fault[]);
      for (const exp of running) {
        const mine = faults.filter((f) => f.experimentUid === exp.id || f.experimentUid.startsWith(`${exp.id}-`));
        exp.effects = mine.map((f) => ({ target: f.targetId, kind: f.kind, ...effectOf(f) }));
      }
    }
    return [...this.experiments.values()];
  }

  /** Recovered and failed experiments. */
  finished(): ApiExperiment[] {
    return [...this.experiments.values()].filter((e) => e.phase === 'recovered' || e.phase === 'failed');
  }

  /** Stops every experiment (on shutdown); a failed recovery is recorded, not thrown. */
  async stopAll(actor: string): Promise<void> {
    for (const id of [...this.experiments.keys()]) await this.stop(id, actor).catch(() => undefined);
  }

  private add(r: { kind: string; metadata: { name: string } }, phase: ApiExperiment['phase'], schedule?: string) {
    const id = `api-${randomUUID().slice(0, 8)}`;
    const exp: ApiExperiment = {
      id,
      name: r.metadata.name,
      kind: r.kind,
      phase,
      startedAt: phase === 'scheduled' ? undefined : new Date().toISOString(),
      endsAt: undefined,
      recoveredAt: undefined,
      ...(schedule ? { schedule } : {}),
      faults: [],
      targets: [],
    };
    this.experiments.set(id, exp);
    let resolve!: (e: ApiExperiment) => void;
    const promise = new Promise<ApiExperiment>((r) => (resolve = r));
    this.ended.set(id, { promise, resolve });
    return exp;
  }

  private end(exp: ApiExperiment): void {
    this.ended.get(exp.id)?.resolve(exp);
  }

  /** A Workflow runs in the background through the engine; its chaos nodes' targets show up as they run. */
  private startWorkflow(r: WorkflowResource, actor: string): ApiExperiment {
    const problems = unsupportedTemplates(r.spec);
    if (problems.length) throw new ApiError(422, problems.join('; '));
    const exp = this.add(r, 'injected');
    this.audit.write('api-start', `${exp.id} Workflow/${r.metadata.name}`, 'ok', `by ${actor}`);
    const abort = new AbortController();
    let n = 0;
    const done = runWorkflow(
      r.spec,
      {
        now: () => Date.now(),
        runChaos: async (template, kind, spec, signal) => {
          const deadline = template.deadline ? parseDuration(template.deadline)! : 10_000;
          const plan = await this.runner.plan(kind, spec, r, deadline);
          const uid = `${exp.id}-${n++}`;
          const mine = plan.selected.map((t) => ({ target: t.id, phase: 'selected' as const }));
          exp.targets.push(...mine);
          exp.faults.push(...plan.faults.map((f) => ({ target: f.target.id, kind: f.kind })));
          const node = new FaultSession(uid, plan, this.runner);
          try {
            await node.inject();
            for (const t of mine) (t as { phase: string }).phase = 'injected';
            await wait(deadline, signal);
          } finally {
            await node.recover();
            for (const t of mine) (t as { phase: string }).phase = 'recovered';
          }
        },
      },
      abort.signal,
    )
      .then(
        (result) => {
          exp.phase = result.status === 'failed' ? 'failed' : 'recovered';
          if (result.status === 'failed') exp.error = result.children.find((c) => c.error)?.error ?? 'a node failed';
        },
        (error: unknown) => {
          exp.phase = 'failed';
          exp.error = (error as Error).message;
        },
      )
      .finally(() => {
        exp.recoveredAt = new Date().toISOString();
        this.workflows.delete(exp.id);
        this.end(exp);
      });
    this.workflows.set(exp.id, { abort, done });
    return exp;
  }

  /** The records of an experiment whose session just injected (its expiry is the session's). */
  private markInjected(exp: ApiExperiment, session: FaultSession): void {
    exp.phase = 'injected';
    exp.startedAt ??= new Date().toISOString();
    exp.endsAt = new Date(Date.now() + session.remainingMs).toISOString();
    for (const t of exp.targets) t.phase = 'injected';
  }

  /**
   * Ends an experiment at its expiry. A recovery that fails there (the agent died, a target is gone) must not
   * become an unhandled rejection, which would end `chaos up` and everything it runs: it is recorded on the
   * experiment and in the audit log; the services revert the fault themselves when its lease ends.
   */
  private expire(exp: ApiExperiment): void {
    this.stop(exp.id, 'expiry').catch((error: unknown) => {
      exp.phase = 'failed';
      exp.error = `recovery at expiry failed: ${(error as Error).message} (each target reverts the fault itself when its lease ends)`;
      this.audit.write('api-stop', exp.id, 'failed', exp.error);
      this.end(exp);
    });
  }

  /** Keeps what each recovered fault did; returns why recovery failed, when a fault's undo failed. */
  private recordEffects(exp: ApiExperiment, faults: readonly Fault[]): string | undefined {
    // The live effects shown while it ran give way to the final ones.
    exp.effects = [
      ...(exp.effects ?? []).filter((e) => !faults.some((f) => f.targetId === e.target && f.kind === e.kind)),
      ...faults.map((f) => ({ target: f.targetId, kind: f.kind, ...effectOf(f) })),
    ];
    const failed = faults.filter((f) => f.phase === 'failed');
    return failed.length ? failed.map((f) => `${f.kind} on ${f.targetId}: ${f.error}`).join('; ') : undefined;
  }
}
