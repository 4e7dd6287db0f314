import { now } from './clock.ts';
import { Emitter, type Subscribe } from './event.ts';
import { observed, publish } from './events.ts';

/** Options of {@link AdaptiveLimiter}. */
export interface AdaptiveLimitOptions {
  /**
   * `gradient` (default): the limit follows the ratio of the no-load latency to the latest one, so it
   * shrinks as soon as latency rises under load and settles where latency is about `tolerance` times the
   * no-load latency (Netflix concurrency-limits' gradient limit). The no-load latency is the least seen,
   * relearnt every `probeEvery` calls by dropping the limit to `queueSize` for a moment.
   * `aimd`: grow by one while calls succeed, multiply by `backoffRatio` on a drop (an error, or a latency
   * over `slowMs`).
   */
  algorithm?: 'gradient' | 'aimd';
  /** Starting limit. Default 20. */
  initialLimit?: number;
  /** The limit never goes below this. Default 1. */
  minLimit?: number;
  /** The limit never goes above this. Default 1 000. */
  maxLimit?: number;
  /** gradient: latency may grow by this factor over the long-run average before the limit shrinks. Default 1.5. */
  tolerance?: number;
  /** gradient: weight of each new estimate, in (0, 1]. Default 0.2. */
  smoothing?: number;
  /**
   * gradient: calls between two probes of the no-load latency. Default 1 000. A probe drops the limit to
   * `queueSize` and takes the no-load latency from the calls admitted after it: a dependency that became
   * slower for good is learnt, and the limit regrows within a few dozen calls.
   */
  probeEvery?: number;
  /** gradient: calls allowed to queue beyond the estimated capacity. Default 4. */
  queueSize?: number;
  /** aimd: factor applied on a drop, in (0, 1). Default 0.9. */
  backoffRatio?: number;
  /** aimd: a call slower than this counts as a drop, in ms. Default: none. */
  slowMs?: number;
  /** A name for events. Default `adaptive-limit`. */
  name?: string;
}

/** How a call ended, for the limiter. */
export type LimitOutcome = 'success' | 'dropped' | 'ignore';

/** The limit moved. */
export interface LimitChangeEvent {
  limit: number;
  previous: number;
}

/**
 * An adaptive concurrency limit: how many calls may run at once, learnt from their latencies and drops
 * rather than configured. Used by the `adaptiveConcurrency` policy (client side) and the `loadShedding`
 * fastify plugin (server side); share one limiter per protected resource.
 */
export class AdaptiveLimiter {
  private estimate: number;
  private current: number;
  private running = 0;
  /** The no-load latency: the least seen from calls started since the last probe, in ms. */
  private baseline = Infinity;
  /** When the last probe began: only calls started after it may set the new baseline. */
  private probeStart = -Infinity;
  private probing = false;
  private untilProbe: number;
  private readonly gradient: boolean;
  private readonly minLimit: number;
  private readonly maxLimit: number;
  private readonly tolerance: number;
  private readonly smoothing: number;
  private readonly probeEvery: number;
  private readonly queueSize: number;
  private readonly backoffRatio: number;
  private readonly slowMs: number;
  private readonly changes = new Emitter<LimitChangeEvent>();
  /** The name given at creation, in events. */
  readonly name: string;
  /** Subscribes to changes of the (whole-number) limit. */
  readonly onLimitChange: Subscribe<LimitChangeEvent> = this.changes.subscribe;

  constructor(options: AdaptiveLimitOptions = {}) {
    this.gradient = (options.algorithm ?? 'gradient') === 'gradient';
    this.minLimit = options.minLimit ?? 1;
    this.maxLimit = options.maxLimit ?? 1_000;
    this.estimate = options.initialLimit ?? 20;
    this.tolerance = options.tolerance ?? 1.5;
    this.smoothing = options.smoothing ?? 0.2;
    this.probeEvery = options.probeEvery ?? 1_000;
    this.untilProbe = this.probeEvery;
    this.queueSize = options.queueSize ?? 4;
    this.backoffRatio = options.backoffRatio ?? 0.9;
    this.slowMs = options.slowMs ?? Infinity;
    this.name = options.name ?? 'adaptive-limit';
    check('minLimit', this.minLimit, this.minLimit >= 1);
    check('maxLimit', this.maxLimit, this.maxLimit >= this.minLimit);
    check('initialLimit', this.estimate, this.estimate >= this.minLimit && this.estimate <= this.maxLimit);
    check('tolerance', this.tolerance, this.tolerance >= 1);
    check('smoothing', this.smoothing, this.smoothing > 0 && this.smoothing <= 1);
    check('probeEvery', this.probeEvery, this.probeEvery >= 1);
    check('queueSize', this.queueSize, this.queueSize >= 0);
    check('backoffRatio', this.backoffRatio, this.backoffRatio > 0 && this.backoffRatio < 1);
    check('slowMs', this.slowMs, this.slowMs > 0);
    this.current = Math.floor(this.estimate);
  }

  /** Calls allowed to run at once now. */
  get limit(): number {
    return this.current;
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Takes a place if one is free: returns the start time to hand back to {@link release}, or -1 when the
   * limit is reached and the call must be shed.
   */
  tryAcquire(): number {
    if (this.running >= this.current) return -1;
    this.running++;
    return now();
  }

  /** Gives a place back and learns from the call: its latency since `start` and how it ended. */
  release(start: number, outcome: LimitOutcome): void {
    const inFlight = this.running--;
    if (outcome === 'ignore') return;
    const rtt = now() - start;
    if (this.gradient) this.updateGradient(start, rtt, inFlight);
    else this.updateAimd(rtt, inFlight, outcome === 'dropped');
    const next = Math.floor(this.estimate);
    if (next !== this.current) {
      const previous = this.current;
      this.current = next;
      if (this.changes.hasListeners) this.changes.emit({ limit: next, previous });
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish({ kind: 'limit-change', policy: this.name, limit: next, previous });
    }
  }

  private updateGradient(start: number, rtt: number, inFlight: number): void {
    const latest = Math.max(rtt, 1e-3);
    if (this.probing && start >= this.probeStart) {
      // The first call admitted after a probe began: its latency is the new no-load latency.
      this.baseline = latest;
      this.probing = false;
    } else if (latest < this.baseline) this.baseline = latest;
    if (--this.untilProbe <= 0) {
      this.untilProbe = this.probeEvery;
      this.probeStart = now();
      this.probing = true;
      this.estimate = this.clamp(Math.min(this.estimate, this.queueSize));
      return;
    }
    const baseline = this.baseline;
    // A caller using under half the limit tells nothing about the capacity: do not grow on its samples.
    if (inFlight < this.estimate / 2) return;
    const gradient = Math.max(0.5, Math.min(1, (this.tolerance * baseline) / latest));
    const target = this.estimate * gradient + this.queueSize;
    this.estimate = this.clamp(this.estimate * (1 - this.smoothing) + target * this.smoothing);
  }

  private updateAimd(rtt: number, inFlight: number, dropped: boolean): void {
    if (dropped || rtt > this.slowMs) this.estimate = this.clamp(this.estimate * this.backoffRatio);
    else if (inFlight * 2 >= this.estimate) this.estimate = this.clamp(this.estimate + 1);
  }

  private clamp(limit: number): number {
    return Math.min(this.maxLimit, Math.max(this.minLimit, limit));
  }
}

function check(name: string, value: number, ok: boolean): void {
  if (!ok || Number.isNaN(value)) throw new RangeError(`AdaptiveLimiter: ${name} is out of range: ${value}`);
}
