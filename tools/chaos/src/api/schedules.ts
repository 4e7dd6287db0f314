import { nextRuns, type ChaosResource, type ScheduleResource, type WorkflowResource } from '@nova/chaos-spec';
import type { ControllerAudit } from '../plan/policy.ts';
import { scheduleChild, Scheduler, type ScheduleEvent } from '../run/scheduler.ts';
import { ApiError } from './errors.ts';
import type { ExperimentManager } from './experiments.ts';

/** A Schedule the API runs. */
export interface ApiSchedule {
  name: string;
  schedule: string;
  type: string;
  concurrencyPolicy: string;
  /** `running` spawns children at its ticks; `paused` spawns none and holds its children paused. */
  state: 'running' | 'paused' | 'stopped';
  startedAt: string;
  /** The children it spawned that are kept (historyLimit), newest last, with their experiment's id. */
  children: Array<{ name: string; experimentId?: string; phase: string }>;
  /** The next ticks (none while paused or stopped). */
  next: string[];
  /** What happened at the last ticks: spawned, skipped (Forbid), missed. */
  events: string[];
}

interface Entry {
  resource: ScheduleResource;
  scheduler: Scheduler;
  view: ApiSchedule;
  /** Child name → experiment id. */
  experiments: Map<string, string>;
}

/**
 * Runs Schedules through the API as Chaos Mesh's schedule controller does: each tick spawns a child experiment
 * (run by the {@link ExperimentManager}, so it shows with the others); pausing the Schedule (Chaos Mesh's
 * `experiment.chaos-mesh.org/pause` annotation) stops new spawns and pauses the running children, resuming
 * resumes both; stopping ends the Schedule and recovers its children. Every action is audited.
 */
export class ScheduleManager {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly experiments: ExperimentManager,
    private readonly audit: ControllerAudit,
  ) {}

  /** Starts running `s`; 409 when a Schedule of that name runs already. */
  start(s: ScheduleResource, actor: string): ApiSchedule {
    const name = s.metadata.name;
    const existing = this.entries.get(name);
    if (existing && existing.view.state !== 'stopped')
      throw new ApiError(409, `schedule ${name} is ${existing.view.state}: stop it before starting it again`);
    const view: ApiSchedule = {
      name,
      schedule: s.spec.schedule,
      type: s.spec.type,
      concurrencyPolicy: s.spec.concurrencyPolicy ?? 'Forbid',
      state: 'running',
      startedAt: new Date().toISOString(),
      children: [],
      next: [],
      events: [],
    };
    const entry: Entry = { resource: s, view, experiments: new Map(), scheduler: undefined as never };
    entry.scheduler = new Scheduler(
      s,
      (child, signal) => this.runChild(entry, child, signal),
      (e) => this.onEvent(entry, e),
    );
    this.entries.set(name, entry);
    entry.scheduler.start();
    this.audit.write('api-schedule-start', `Schedule/${name}`, 'ok', `by ${actor}`);
    return this.refresh(entry);
  }

  /** Every Schedule started through the API (stopped ones too, until started again). */
  list(): ApiSchedule[] {
    return [...this.entries.values()].map((e) => this.refresh(e));
  }

  /** The Schedule `name`, or a 404. */
  get(name: string): ApiSchedule {
    return this.refresh(this.entry(name));
  }

  /** Stops spawning and pauses the running children. */
  async pause(name: string, actor: string): Promise<ApiSchedule> {
    const entry = this.entry(name);
    if (entry.view.state !== 'running') throw new ApiError(409, `schedule ${name} is ${entry.view.state}, not running`);
    entry.scheduler.suspend();
    entry.view.state = 'paused';
    for (const id of this.runningChildren(entry, 'injected')) await this.experiments.pause(id, actor);
    this.audit.write('api-schedule-pause', `Schedule/${name}`, 'ok', `by ${actor}`);
    return this.refresh(entry);
  }

  /** Resumes the paused children and spawning. */
  async resume(name: string, actor: string): Promise<ApiSchedule> {
    const entry = this.entry(name);
    if (entry.view.state !== 'paused') throw new ApiError(409, `schedule ${name} is ${entry.view.state}, not paused`);
    for (const id of this.runningChildren(entry, 'paused')) await this.experiments.resume(id, actor);
    entry.view.state = 'running';
    entry.scheduler.resume();
    this.audit.write('api-schedule-resume', `Schedule/${name}`, 'ok', `by ${actor}`);
    return this.refresh(entry);
  }

  /** Ends the Schedule and recovers its children; idempotent. */
  async stop(name: string, actor: string): Promise<ApiSchedule> {
    const entry = this.entry(name);
    if (entry.view.state === 'stopped') return this.refresh(entry);
    entry.view.state = 'stopped';
    entry.scheduler.stop();
    const ids = [...entry.experiments.values()];
    await Promise.all(ids.map((id) => this.experiments.stop(id, actor).catch(() => undefined)));
    this.audit.write('api-schedule-stop', `Schedule/${name}`, 'ok', `by ${actor}`);
    return this.refresh(entry);
  }

  /** Stops every Schedule (on shutdown). */
  async stopAll(actor: string): Promise<void> {
    for (const name of [...this.entries.keys()]) await this.stop(name, actor);
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw new ApiError(404, `no schedule ${name} started through the API`);
    return entry;
  }

  private runningChildren(entry: Entry, phase: 'injected' | 'paused'): string[] {
    return [...entry.experiments.values()].filter((id) => this.experiments.get(id).phase === phase);
  }

  /** A tick's child: started as an experiment of its own; it ends when the experiment does (or the stop). */
  private async runChild(entry: Entry, child: string, signal: AbortSignal): Promise<boolean> {
    const resource = scheduleChild(entry.resource, child) as ChaosResource | WorkflowResource;
    const exp = await this.experiments
      .start(resource, `Schedule/${entry.view.name}`, { schedule: entry.view.name })
      .catch((error: Error) => {
        entry.view.events = [
          ...entry.view.events,
          `${new Date().toISOString()} ${child} failed to start: ${error.message}`,
        ].slice(-10);
        throw error;
      });
    entry.experiments.set(child, exp.id);
    const onAbort = (): void => void this.experiments.stop(exp.id, `Schedule/${entry.view.name}`).catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    const ended = await this.experiments.whenEnded(exp.id);
    signal.removeEventListener('abort', onAbort);
    return ended.phase === 'recovered';
  }

  private onEvent(entry: Entry, e: ScheduleEvent): void {
    const at = new Date(e.at).toISOString();
    const line =
      e.type === 'skipped-forbid'
        ? `${at} skipped (Forbid: ${e.active.join(', ')} still running)`
        : e.type === 'missed'
          ? `${at} missed the tick of ${new Date(e.scheduledFor).toISOString()} (startingDeadlineSeconds)`
          : `${at} ${e.type} ${e.child}`;
    entry.view.events = [...entry.view.events, line].slice(-10);
    if (e.type === 'gc') entry.experiments.delete(e.child);
  }

  private refresh(entry: Entry): ApiSchedule {
    const v = entry.view;
    v.children = entry.scheduler.children.map((c) => {
      const id = entry.experiments.get(c.name);
      const phase = id ? this.experiments.get(id).phase : c.finishedAt === undefined ? 'starting' : 'failed';
      return { name: c.name, ...(id ? { experimentId: id } : {}), phase };
    });
    v.next = v.state === 'running' ? nextRuns(v.schedule, new Date(), 3).map((d) => d.toISOString()) : [];
    return v;
  }
}
