import { now } from './clock.ts';
import { Emitter, type Subscribe } from './event.ts';
import { observed, publish } from './events.ts';
import { LatencyWindow } from './latency-window.ts';
import { Pipeline, Scope, cancelled, proceed, type Execution, type Stage } from './policy.ts';
import type { RetryBudget } from './retry-budget.ts';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /**
   * Wait before sending a hedged attempt, in ms. Default: the `percentile` of this policy's recent
   * latencies (no hedging until `minSamples` calls have succeeded).
   */
  delayMs?: number;
  /** Which latency percentile to hedge after, in (0, 1]. Default 0.95: about 5 % of calls get a hedge. */
  percentile?: number;
  /** Successful calls measured before percentile-based hedging starts. Default 20. */
  minSamples?: number;
  /** Hedged attempts per call at most (each after another delay). Default 1. */
  maxHedges?: number;
  /**
   * Hedges are taken from this budget (share it with the retry policy of the same upstream): when it is
   * spent, calls wait for their first attempt. Each call counts as one request in it. Default: no budget.
   */
  budget?: RetryBudget;
  /** A name for events. Default `hedge`. */
  name?: string;
}

/** A hedged attempt was sent. */
export interface HedgeEvent {
  /** 2 for the first hedge. */
  attempt: number;
  /** How long the call had run when the hedge was sent, in ms. */
  afterMs: number;
}

/** The reason a losing attempt's signal carries: an abort, so breakers do not count it as a failure. */
function lostRace(): DOMException {
  return new DOMException('another attempt of this hedged call answered first', 'AbortError');
}

const noop = (): void => {};

/**
 * The race whose promise is being created. A promise executor runs synchronously inside `new Promise`, so a
 * module-level executor can pick its race up from here: a closure per call (the executor of every hedged
 * call, idle or not) is an allocation the idle path measurably paid for.
 */
let creating: Race | undefined;

function settleWith(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  creating!.resolve = resolve;
  creating!.reject = reject;
}

/** One hedged call: its attempts, the first answer wins, the rest are aborted. */
class Race {
  /** The first attempt's scope; the hedges' get an array only once there is a hedge (most calls have none). */
  private first: Scope | undefined = undefined;
  private hedgeScopes: Scope[] | undefined = undefined;
  pending = 0;
  launched = 0;
  settled = false;
  due: number;
  /** Called once the race is over (the queue drops it from its head). */
  onSettled: (() => void) | undefined = undefined;
  readonly start: number;
  readonly ex: Execution;
  readonly outer: Scope | undefined;
  private readonly latencies: LatencyWindow | undefined;
  private readonly next: number;
  private readonly attempt: number;
  /** The call's promise's settlers, set by {@link settleWith} as the promise is created. */
  resolve: (value: unknown) => void = noop;
  reject: (error: unknown) => void = noop;

  constructor(
    latencies: LatencyWindow | undefined,
    ex: Execution,
    next: number,
    outer: Scope | undefined,
    attempt: number,
    delay: number,
  ) {
    this.latencies = latencies;
    this.ex = ex;
    this.next = next;
    this.outer = outer;
    this.attempt = attempt;
    this.start = now();
    this.due = this.start + delay;
  }

  launch(): void {
    const scope = new Scope(this.outer, this.ex.callerSignal, this.outer ? this.outer.deadline : Infinity);
    if (this.first === undefined) this.first = scope;
    else (this.hedgeScopes ??= []).push(scope);
    const attempt = this.attempt + this.launched++;
    this.pending++;
    proceed(this.ex, this.next, scope, attempt).then(
      (value) => this.win(value, scope),
      (error: unknown) => this.lose(error),
    );
  }

  /**
   * The first answer wins: the other attempts are aborted. The latency recorded is the caller's wait, hedged
   * or not: leaving out hedged calls would drop the slow tail, lower the percentile and hedge ever more.
   */
  private win(value: unknown, winner: Scope): void {
    if (this.settled) return;
    this.settled = true;
    this.latencies?.add(now() - this.start);
    const first = this.first!;
    if (this.hedgeScopes === undefined) first.release();
    else {
      const reason = lostRace();
      for (const s of [first, ...this.hedgeScopes]) {
        if (s !== winner) s.expire(reason);
        s.release();
      }
    }
    this.resolve(value);
    this.onSettled?.();
  }

  /**
   * An attempt failed: the call fails with it once no other attempt is running. A failure is not hedged
   * (resending after an error is retry's job), so a failed primary ends the call before its hedge is due.
   */
  private lose(error: unknown): void {
    this.pending--;
    if (this.settled || this.pending > 0) return;
    this.settled = true;
    this.first!.release();
    if (this.hedgeScopes !== undefined) for (const s of this.hedgeScopes) s.release();
    this.reject(error);
    this.onSettled?.();
  }
}

/**
 * Races waiting for their hedge, in order of due time. One timer for the policy, armed for the head, as the
 * timeout policy does: the delay changes only every few samples, so due times arrive (almost) in order; a
 * race behind a later one is hedged when that one is due, late by at most the last change of the delay.
 */
class HedgeQueue {
  private items: Race[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly fire: (race: Race) => void;

  constructor(fire: (race: Race) => void) {
    this.fire = fire;
  }

  add(race: Race): void {
    this.items.push(race);
    // Stryker disable next-line ConditionalExpression: performance only; an extra timer finds nothing due and re-arms.
    if (this.timer === undefined) this.arm(race.due);
  }

  // Stryker disable all: memory only (finished races would otherwise wait in the array until the timer fires).
  /** Drops finished races from the head, so sequential calls keep the queue at about one entry. */
  trim(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.settled) this.head++;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }
  // Stryker restore all

  private arm(at: number): void {
    // Stryker disable next-line MethodExpression: performance only; an early timer finds nothing due and re-arms.
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - now())));
    // A hedge only speeds up a call that is already running; it must not keep a process alive by itself.
    // Stryker disable next-line OptionalChaining: `?.` only guards runtimes whose timers are numbers (browsers, some fakes).
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const t = now();
    const again: Race[] = [];
    while (this.head < this.items.length) {
      const race = this.items[this.head]!;
      if (race.settled) this.head++;
      else if (race.due <= t) {
        this.head++;
        this.fire(race);
        if (!race.settled && race.due > t) again.push(race);
      } else break;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      // Stryker disable next-line all: memory only (when to drop the finished head of the queue).
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // Stryker disable next-line all: memory only, as above.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    for (const race of again) this.items.push(race);
    // Races that finished while in the middle of the queue are skipped here (trim drops those at the head).
    while (this.head < this.items.length && this.items[this.head]!.settled) this.head++;
    if (this.head < this.items.length) this.arm(this.items[this.head]!.due);
    else {
      this.items = [];
      this.head = 0;
    }
  };
}

class HedgeStage implements Stage {
  readonly latencies: LatencyWindow | undefined;
  readonly hedges = new Emitter<HedgeEvent>();
  readonly fixedDelay: number | undefined;
  private readonly maxHedges: number;
  private readonly budget: RetryBudget | undefined;
  private readonly queue = new HedgeQueue((race) => this.hedge(race));
  private readonly trim = (): void => this.queue.trim();
  private readonly name: string;

  constructor(options: HedgeOptions) {
    this.fixedDelay = options.delayMs;
    if (this.fixedDelay !== undefined && !(this.fixedDelay >= 0)) {
      throw new RangeError(`hedge: delayMs must be a number of ms >= 0, got ${String(this.fixedDelay)}`);
    }
    this.maxHedges = options.maxHedges ?? 1;
    if (!Number.isInteger(this.maxHedges) || this.maxHedges < 1) {
      throw new RangeError(`hedge: maxHedges must be an integer >= 1, got ${this.maxHedges}`);
    }
    this.latencies =
      this.fixedDelay === undefined
        ? new LatencyWindow(options.percentile ?? 0.95, 256, options.minSamples ?? 20)
        : undefined;
    this.budget = options.budget;
    this.name = options.name ?? 'hedge';
  }

  run(ex: Execution, next: number, outer: Scope | undefined, attempt: number): Promise<unknown> {
    this.budget?.recordRequest();
    const delay = this.fixedDelay ?? this.latencies!.value;
    const race = new Race(this.latencies, ex, next, outer, attempt, delay);
    creating = race;
    const call = new Promise(settleWith);
    // Stryker disable next-line all: memory only (drops the reference to a race that may finish long after).
    creating = undefined;
    // Stages return promises and never throw (proceed() turns the function's throw into a rejection).
    race.launch();
    // The attempt settles in a later microtask at the earliest, so the race is always queued here.
    if (delay !== Infinity) {
      race.onSettled = this.trim;
      this.queue.add(race);
    }
    return call;
  }

  /** The race's delay has passed with no answer: send a hedge, if the budget and the call allow it. */
  private hedge(race: Race): void {
    if (cancelled(race.ex, race.outer)) return;
    if (this.budget !== undefined && !this.budget.tryAcquireRetry()) return;
    race.launch();
    if (this.hedges.hasListeners) this.hedges.emit({ attempt: race.launched, afterMs: now() - race.start });
    // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
    if (observed()) publish({ kind: 'hedge', policy: this.name, attempt: race.launched, afterMs: now() - race.start });
    if (race.launched <= this.maxHedges) race.due = now() + (this.fixedDelay ?? this.latencies!.value);
  }
}

/** A hedging policy: {@link Pipeline} plus its events and the delay it currently hedges after. */
export class HedgePolicy extends Pipeline {
  private readonly stage: HedgeStage;
  /** Subscribes to each hedged attempt sent. */
  readonly onHedge: Subscribe<HedgeEvent>;

  constructor(options: HedgeOptions) {
    const stage = new HedgeStage(options);
    super([stage]);
    this.stage = stage;
    this.onHedge = stage.hedges.subscribe;
  }

  /** The wait before a hedge now, in ms (`Infinity` while the percentile is not yet known). */
  get delayMs(): number {
    return this.stage.fixedDelay ?? this.stage.latencies!.value;
  }
}

/**
 * Hedged requests (The Tail at Scale): when a call has not answered after the `percentile` of recent
 * latencies (or `delayMs`), the same call is sent again; the first answer wins and the other attempt's
 * signal is aborted. A failure is not hedged (that is retry's job): the call fails when no attempt is left.
 * Only for idempotent work; take hedges from a {@link RetryBudget} so they cannot multiply load.
 */
export function hedge(options: HedgeOptions = {}): HedgePolicy {
  return new HedgePolicy(options);
}
