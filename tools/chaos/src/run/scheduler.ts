import { blockName, parseSchedule, type Resource, type ScheduleResource } from '@nova/chaos-spec';

/** The child a Schedule spawns at a tick: its embedded chaos (or workflow) under the child's name. */
export function scheduleChild(s: ScheduleResource, name: string): Resource {
  const spec = s.spec[blockName(s.spec.type)] as never;
  return { kind: s.spec.type, metadata: { ...s.metadata, name }, spec, source: s.source } as Resource;
}

/** What happened at a tick. */
export type ScheduleEvent =
  | { type: 'spawned'; child: string; at: number }
  | { type: 'finished'; child: string; at: number; ok: boolean }
  | { type: 'skipped-forbid'; at: number; active: string[] }
  | { type: 'missed'; at: number; scheduledFor: number }
  | { type: 'gc'; child: string; at: number };

/** A child the schedule started. */
export interface ScheduleChild {
  name: string;
  startedAt: number;
  finishedAt?: number;
  ok?: boolean;
}

/**
 * Runs a Schedule as Chaos Mesh does: at each cron tick a child named `<schedule>-<5 chars>` is started;
 * `concurrencyPolicy: Forbid` (the default) skips a tick while a child is unfinished; a tick later than
 * `startingDeadlineSeconds` is skipped as missed; finished children beyond `historyLimit` are dropped,
 * oldest first. Time comes from timers and `Date`, so fake timers drive it in tests.
 */
export class Scheduler {
  readonly children: ScheduleChild[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private suspended = false;
  private readonly controllers = new Set<AbortController>();

  constructor(
    private readonly schedule: ScheduleResource,
    private readonly runChild: (name: string, signal: AbortSignal) => Promise<boolean>,
    private readonly onEvent: (e: ScheduleEvent) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    this.stopped = false;
    this.arm(new Date());
  }

  /** Stops scheduling and aborts running children. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of this.controllers) c.abort();
  }

  /**
   * Chaos Mesh's pause of a Schedule: no child is spawned until {@link resume}; ticks that fall in the pause are
   * not caught up afterwards. Running children are the caller's to pause (Chaos Mesh propagates the annotation).
   */
  suspend(): void {
    this.suspended = true;
    clearTimeout(this.timer);
  }

  /** Ends a {@link suspend}: the next tick after now spawns again. */
  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.arm(new Date());
  }

  /** Whether {@link suspend} holds it. */
  get isSuspended(): boolean {
    return this.suspended;
  }

  get active(): ScheduleChild[] {
    return this.children.filter((c) => c.finishedAt === undefined);
  }

  private arm(from: Date): void {
    if (this.stopped || this.suspended) return;
    const next = parseSchedule(this.schedule.spec.schedule).next(from);
    if (!next) return;
    this.timer = setTimeout(() => this.tick(next.getTime()), Math.max(0, next.getTime() - Date.now()));
  }

  private tick(scheduledFor: number): void {
    const now = Date.now();
    const spec = this.schedule.spec;
    const startingDeadline = spec.startingDeadlineSeconds;
    if (typeof startingDeadline === 'number' && now - scheduledFor > startingDeadline * 1000) {
      this.onEvent({ type: 'missed', at: now, scheduledFor });
    } else if ((spec.concurrencyPolicy ?? 'Forbid') === 'Forbid' && this.active.length > 0) {
      this.onEvent({ type: 'skipped-forbid', at: now, active: this.active.map((c) => c.name) });
    } else {
      this.spawn(now);
    }
    this.arm(new Date(Math.max(now, scheduledFor)));
  }

  private spawn(now: number): void {
    const suffix = Array.from(
      { length: 5 },
      () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(this.random() * 36)],
    ).join('');
    const child: ScheduleChild = { name: `${this.schedule.metadata.name}-${suffix}`, startedAt: now };
    this.children.push(child);
    this.onEvent({ type: 'spawned', child: child.name, at: now });
    const controller = new AbortController();
    this.controllers.add(controller);
    this.runChild(child.name, controller.signal)
      .then(
        (ok) => ok,
        () => false,
      )
      .then((ok) => {
        this.controllers.delete(controller);
        child.finishedAt = Date.now();
        child.ok = ok;
        this.onEvent({ type: 'finished', child: child.name, at: child.finishedAt, ok });
        this.gc();
      });
  }

  private gc(): void {
    const limit = this.schedule.spec.historyLimit ?? 0;
    const finished = this.children.filter((c) => c.finishedAt !== undefined);
    while (finished.length > limit) {
      const oldest = finished.shift()!;
      this.children.splice(this.children.indexOf(oldest), 1);
      this.onEvent({ type: 'gc', child: oldest.name, at: Date.now() });
    }
  }
}
