import CircuitBreaker from 'opossum';
import { CountWindow, TimeWindow, type OutcomeWindow } from './breaker-window.ts';
import { CircuitState } from './circuit-state.ts';
import { now } from './clock.ts';
import { BrokenCircuitError, ErrorCodes, isResilienceError, isShed, statusOf } from './errors.ts';
import { Emitter, type Disposable, type Subscribe } from './event.ts';
import { observed, publish } from './events.ts';
import { Pipeline, proceed, type Execution, type Scope, type Stage } from './policy.ts';

export { CircuitState };

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * How failures are judged while closed. `time-window` (default): the failure rate over the last
   * `windowMs` (opossum's rolling window). `count-window`: the failure rate over the last `windowSize`
   * calls. `consecutive`: opens after `consecutiveFailures` failures in a row.
   */
  mode?: 'time-window' | 'count-window' | 'consecutive';
  /** count-window: calls the window holds. Default 100. */
  windowSize?: number;
  /** consecutive: failures in a row that open the breaker. Default 5. */
  consecutiveFailures?: number;
  /**
   * A call that takes at least this long counts as slow, in ms. With it the breaker also opens when the
   * share of slow calls in the window (time or count; the last `windowSize` calls in consecutive mode)
   * reaches `slowCallRateThreshold`, with `minimumVolume`: an upstream that answers, but too slowly, is
   * shed too. Default: none.
   */
  slowCallMs?: number;
  /** Slow calls, in percent of calls in the window, at which the breaker opens. Default 100. */
  slowCallRateThreshold?: number;
  /** Failure rate, in percent of calls in the window, at or above which the breaker opens. Default 50. */
  failureRateThreshold?: number;
  /** Calls the window must hold before the failure rate is judged. Default 10. */
  minimumVolume?: number;
  /** Length of the rolling window, in ms. Default 10 000. */
  windowMs?: number;
  /** Buckets the window is counted in (`windowMs` must divide by it). Default 10. */
  windowBuckets?: number;
  /** How long the breaker stays open before letting probes through, in ms. Default 5 000. */
  resetTimeoutMs?: number;
  /** Probe calls let through when half-open; all must succeed to close, any failure reopens. Default 1. */
  halfOpenProbes?: number;
  /**
   * Longest time the breaker stays half-open, in ms: probes that have not all settled by then count as
   * failed and the breaker opens again, so a probe whose function never settles cannot wedge it. Default
   * 30 000.
   */
  maxHalfOpenMs?: number;
  /**
   * Which errors count as failures. Default {@link countsAsFailure}: everything except 4xx responses,
   * bulkhead rejections and aborts.
   */
  isFailure?: (error: unknown) => boolean;
  /** A name for events and metrics. */
  name?: string;
}

/** A state transition. */
export interface StateChangeEvent {
  name: string;
  from: CircuitState;
  to: CircuitState;
}

/**
 * The default failure predicate. A 4xx answer is the caller's fault, not the upstream's, so it must not open
 * the breaker; neither must our own bulkhead's rejection, a load shedder's (ours or the upstream's, see
 * `isShed`) or a caller's abort.
 */
export function countsAsFailure(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined && status >= 400 && status < 500) return false;
  if (isResilienceError(error, ErrorCodes.BULKHEAD_FULL)) return false;
  if (isShed(error)) return false;
  if (isAbort(error)) return false;
  return true;
}

/** A caller's abort (`AbortError`), which says nothing about the upstream. */
function isAbort(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

type Action = (ex: Execution, next: number, scope: Scope | undefined, attempt: number) => Promise<unknown>;

/**
 * Rolling-window statistics, the reset timer and the open/half-open/closed machine are opossum's. Around it:
 * a fast-fail path that checks the state before `fire()` and rejects with one preallocated stackless error,
 * N half-open probes (opossum lets one through), ref-counted isolation, and typed events.
 */
class BreakerStage implements Stage {
  readonly breaker: CircuitBreaker<Parameters<Action>, unknown>;
  readonly changes = new Emitter<StateChangeEvent>();
  readonly openError: BrokenCircuitError;
  readonly name: string;
  private readonly probes: number;
  private readonly maxHalfOpenMs: number;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  /** Probes of this half-open spell that answered, but at least `slowCallMs` late. */
  private probeSlow = 0;
  /** Bumped at every transition, so a probe that settles after its half-open period ended is ignored. */
  private epoch = 0;
  private halfOpenTimer: ReturnType<typeof setTimeout> | undefined;
  private isolations = 0;
  private last: CircuitState = CircuitState.Closed;
  private readonly isFailure: (error: unknown) => boolean;
  /** The window this stage judges itself (every mode but a time window without slow calls). */
  private readonly window: OutcomeWindow | undefined;
  private readonly mode: NonNullable<CircuitBreakerOptions['mode']>;
  private readonly minimumVolume: number;
  private readonly failureRate: number;
  private readonly slowCallMs: number;
  private readonly slowRate: number;
  private readonly streakToOpen: number;
  private streak = 0;

  constructor(name: string, options: CircuitBreakerOptions) {
    this.name = name;
    this.probes = options.halfOpenProbes ?? 1;
    if (!Number.isInteger(this.probes) || this.probes < 1) {
      throw new RangeError(`circuitBreaker: halfOpenProbes must be an integer >= 1, got ${this.probes}`);
    }
    this.maxHalfOpenMs = options.maxHalfOpenMs ?? 30_000;
    if (!(this.maxHalfOpenMs > 0)) {
      throw new RangeError(`circuitBreaker: maxHalfOpenMs must be a positive number of ms, got ${this.maxHalfOpenMs}`);
    }
    this.isFailure = options.isFailure ?? countsAsFailure;
    this.mode = options.mode ?? 'time-window';
    this.minimumVolume = options.minimumVolume ?? 10;
    this.failureRate = options.failureRateThreshold ?? 50;
    this.slowCallMs = options.slowCallMs ?? Infinity;
    this.slowRate = options.slowCallRateThreshold ?? 100;
    this.streakToOpen = options.consecutiveFailures ?? 5;
    if (!['time-window', 'count-window', 'consecutive'].includes(this.mode)) {
      throw new RangeError(`circuitBreaker: mode must be time-window, count-window or consecutive, got ${this.mode}`);
    }
    if (!(this.slowCallMs > 0)) {
      throw new RangeError(`circuitBreaker: slowCallMs must be a positive number of ms, got ${this.slowCallMs}`);
    }
    if (!Number.isInteger(this.streakToOpen) || this.streakToOpen < 1) {
      throw new RangeError(`circuitBreaker: consecutiveFailures must be an integer >= 1, got ${this.streakToOpen}`);
    }
    const ownsWindow = this.mode !== 'time-window' || this.slowCallMs !== Infinity;
    this.window = !ownsWindow
      ? undefined
      : this.mode === 'time-window'
        ? new TimeWindow(options.windowMs ?? 10_000, options.windowBuckets ?? 10)
        : new CountWindow(options.windowSize ?? 100);
    this.openError = BrokenCircuitError.preallocated(`circuit breaker ${name} is open: the call was not attempted`);
    this.breaker = new CircuitBreaker<Parameters<Action>, unknown>(proceed, {
      name,
      timeout: false, // timeouts are the timeout policy's job
      errorThresholdPercentage: this.failureRate,
      // In the count and consecutive modes this stage judges; opossum keeps only the state and reset timer.
      volumeThreshold: this.mode === 'time-window' ? this.minimumVolume : Number.MAX_SAFE_INTEGER,
      rollingCountTimeout: options.windowMs ?? 10_000,
      rollingCountBuckets: options.windowBuckets ?? 10,
      resetTimeout: options.resetTimeoutMs ?? 5_000,
      // Stryker disable next-line BooleanLiteral: performance only (opossum's latency percentiles, unused here).
      rollingPercentilesEnabled: false, // opossum sorts every sample on each failure when this is on
      // Stryker disable next-line BooleanLiteral: performance only (opossum's snapshot timer, unused here).
      enableSnapshots: false,
      errorFilter: (error: unknown) => !this.isFailure(error),
    });
    const settle = (): void => {
      // Stryker disable next-line UpdateOperator: any change of the epoch marks older probes stale; ++ and -- alike.
      this.epoch++;
      this.probesInFlight = 0;
      this.probeSuccesses = 0;
      this.probeSlow = 0;
      clearTimeout(this.halfOpenTimer);
      this.halfOpenTimer = undefined;
    };
    this.breaker.on('open', () => {
      settle();
      this.transition();
    });
    this.breaker.on('halfOpen', () => {
      settle();
      // Unref'd: an idle breaker must not keep a process alive.
      this.halfOpenTimer = setTimeout(() => {
        // Stryker disable next-line ConditionalExpression: defence in depth; every transition clears this timer, so it only fires half-open.
        if (this.breaker.halfOpen) this.breaker.open();
      }, this.maxHalfOpenMs);
      // Stryker disable next-line OptionalChaining: `?.` only guards runtimes whose timers are numbers (browsers, some fakes).
      this.halfOpenTimer.unref?.();
      this.transition();
    });
    this.breaker.on('close', () => {
      settle();
      this.window?.reset();
      this.streak = 0;
      this.transition();
    });
  }

  /** True when a call would be attempted now: closed, or half-open with a probe place free. */
  get accepting(): boolean {
    if (this.isolations > 0 || this.breaker.opened) return false;
    return !this.breaker.halfOpen || this.probesInFlight + this.probeSuccesses < this.probes;
  }

  get state(): CircuitState {
    if (this.isolations > 0 || this.breaker.opened) return CircuitState.Open;
    if (this.breaker.halfOpen) return CircuitState.HalfOpen;
    return CircuitState.Closed;
  }

  run(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    const b = this.breaker;
    if (this.isolations > 0 || b.opened) return Promise.reject(this.openError);
    if (b.halfOpen) return this.probe(ex, next, scope, attempt);
    if (this.window === undefined) return b.fire(ex, next, scope, attempt);
    return this.observe(ex, next, scope, attempt);
  }

  /** Closed, with a window of this stage's own: each call's outcome and duration are judged here. */
  private observe(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    const start = now();
    const work =
      this.mode === 'time-window' ? this.breaker.fire(ex, next, scope, attempt) : proceed(ex, next, scope, attempt);
    return work.then(
      (value) => {
        this.judge(false, start);
        return value;
      },
      (error: unknown) => {
        if (!isAbort(error)) this.judge(this.isFailure(error), start);
        throw error;
      },
    );
  }

  private judge(failure: boolean, start: number): void {
    // A call that settles after the breaker left the closed state belongs to a window already judged.
    if (!this.breaker.closed || this.isolations > 0) return;
    const w = this.window!;
    w.record(failure, now() - start >= this.slowCallMs);
    let trip = false;
    if (this.mode === 'consecutive') trip = (this.streak = failure ? this.streak + 1 : 0) >= this.streakToOpen;
    if (w.calls >= this.minimumVolume) {
      if (this.mode === 'count-window' && w.failures * 100 >= this.failureRate * w.calls) trip = true;
      if (w.slow * 100 >= this.slowRate * w.calls) trip = true;
    }
    if (trip) this.breaker.open();
  }

  /**
   * Half-open: up to N calls run; N successes close the breaker, one counted failure reopens it, and so do
   * slow answers (at least `slowCallMs`) once they reach `slowCallRateThreshold` of the N. A probe is
   * over for the breaker when its function settles or when its caller is answered without it (an enclosing
   * timeout expired, or the caller aborted), whichever comes first: a function that ignores its signal must
   * not hold the probe's place.
   */
  private probe(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    if (this.probesInFlight + this.probeSuccesses >= this.probes) return Promise.reject(this.openError);
    this.probesInFlight++;
    const epoch = this.epoch;
    const start = now();
    let over = false;
    const signal = scope ? scope.signal : ex.callerSignal;
    /** `proof`: the upstream answered (a value, or an error that is not its fault such as a 4xx). */
    const end = (outcome: 'proof' | 'failure' | 'neutral'): void => {
      if (over) return;
      over = true;
      signal?.removeEventListener('abort', onAbort);
      if (epoch !== this.epoch || !this.breaker.halfOpen) return;
      this.probesInFlight--;
      if (outcome === 'failure') return this.breaker.open();
      if (outcome !== 'proof') return;
      // An answer as slow as slowCallMs is judged as in the closed state, over this spell's probes: at the
      // slow-call rate it reopens (an upstream that answers, but too slowly, has not recovered).
      if (now() - start >= this.slowCallMs && ++this.probeSlow * 100 >= this.slowRate * this.probes) {
        return this.breaker.open();
      }
      if (++this.probeSuccesses >= this.probes) this.breaker.close();
    };
    const judge = (error: unknown): 'failure' | 'neutral' | 'proof' =>
      this.isFailure(error) ? 'failure' : isAbort(error) ? 'neutral' : 'proof';
    const onAbort = (): void => end(judge(signal!.reason));
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
    signal?.addEventListener('abort', onAbort, { once: true });
    return proceed(ex, next, scope, attempt).then(
      (value) => {
        end('proof');
        return value;
      },
      (error: unknown) => {
        end(judge(error));
        throw error;
      },
    );
  }

  isolate(): Disposable {
    this.isolations++;
    this.transition();
    let released = false;
    return {
      dispose: () => {
        if (released) return;
        released = true;
        if (--this.isolations === 0) {
          // Start again from a clean window, as after a normal recovery.
          this.breaker.close();
        }
        this.transition();
      },
    };
  }

  dispose(): void {
    clearTimeout(this.halfOpenTimer);
    this.breaker.shutdown();
  }

  private transition(): void {
    const to = this.state;
    if (to === this.last) return;
    const from = this.last;
    this.last = to;
    this.changes.emit({ name: this.name, from, to });
    // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
    if (observed()) publish({ kind: 'breaker-state', policy: this.name, from, to });
  }
}

/** A circuit breaker: {@link Pipeline} plus its state, controls and events. */
export class CircuitBreakerPolicy extends Pipeline {
  private readonly stage: BreakerStage;
  /** Subscribes to state transitions (closed → open → half-open → closed, isolation). */
  readonly onStateChange: Subscribe<StateChangeEvent>;

  constructor(options: CircuitBreakerOptions) {
    const stage = new BreakerStage(options.name ?? 'breaker', options);
    super([stage]);
    this.stage = stage;
    this.onStateChange = stage.changes.subscribe;
  }

  /** The name given at creation. */
  get name(): string {
    return this.stage.name;
  }

  /** The current state: 0 closed, 1 open (or isolated), 2 half-open; the value of `circuit_breaker_state`. */
  get state(): CircuitState {
    return this.stage.state;
  }

  /** True when a call would be attempted now: closed, or half-open with a probe place free. */
  get accepting(): boolean {
    return this.stage.accepting;
  }

  /** Holds the breaker open until the returned handle is disposed (ref-counted); then it closes. */
  isolate(): Disposable {
    return this.stage.isolate();
  }

  /** Stops opossum's window timer; call when the breaker is discarded. */
  dispose(): void {
    this.stage.dispose();
  }
}

/**
 * Opens after the failure rate in a rolling window crosses a threshold (with a minimum volume), fails fast
 * while open, lets `halfOpenProbes` probes through after `resetTimeoutMs`, and closes when they all succeed.
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
