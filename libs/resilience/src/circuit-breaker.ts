import CircuitBreaker from 'opossum';
import { BrokenCircuitError, ErrorCodes, isResilienceError, statusOf } from './errors.ts';
import { Emitter, type Disposable, type Subscribe } from './event.ts';
import { Pipeline, proceed, type Execution, type Scope, type Stage } from './policy.ts';

/** Breaker states, with the values of the `circuit_breaker_state` gauge. */
export const CircuitState = { Closed: 0, Open: 1, HalfOpen: 2 } as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Failure rate, in percent of calls in the window, above which the breaker opens. Default 50. */
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
 * the breaker; neither must our own bulkhead's rejection or a caller's abort.
 */
export function countsAsFailure(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined && status >= 400 && status < 500) return false;
  if (isResilienceError(error, ErrorCodes.BULKHEAD_FULL)) return false;
  if (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError') return false;
  return true;
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
  private readonly probes: number;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  private isolations = 0;
  private last: CircuitState = CircuitState.Closed;
  private readonly isFailure: (error: unknown) => boolean;

  constructor(readonly name: string, options: CircuitBreakerOptions) {
    this.probes = options.halfOpenProbes ?? 1;
    if (!Number.isInteger(this.probes) || this.probes < 1) {
      throw new RangeError(`circuitBreaker: halfOpenProbes must be an integer >= 1, got ${this.probes}`);
    }
    this.isFailure = options.isFailure ?? countsAsFailure;
    this.openError = BrokenCircuitError.preallocated(`circuit breaker ${name} is open: the call was not attempted`);
    this.breaker = new CircuitBreaker<Parameters<Action>, unknown>(proceed, {
      name,
      timeout: false, // timeouts are the timeout policy's job
      errorThresholdPercentage: options.failureRateThreshold ?? 50,
      volumeThreshold: options.minimumVolume ?? 10,
      rollingCountTimeout: options.windowMs ?? 10_000,
      rollingCountBuckets: options.windowBuckets ?? 10,
      resetTimeout: options.resetTimeoutMs ?? 5_000,
      rollingPercentilesEnabled: false, // opossum sorts every sample on each failure when this is on
      enableSnapshots: false,
      errorFilter: (error: unknown) => !this.isFailure(error),
    });
    const update = (): void => this.transition();
    this.breaker.on('open', update);
    this.breaker.on('halfOpen', () => {
      this.probeSuccesses = 0;
      update();
    });
    this.breaker.on('close', update);
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
    return b.fire(ex, next, scope, attempt);
  }

  /** Half-open: up to N calls run; N successes close the breaker, one counted failure reopens it. */
  private probe(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    if (this.probesInFlight + this.probeSuccesses >= this.probes) return Promise.reject(this.openError);
    this.probesInFlight++;
    return proceed(ex, next, scope, attempt).then(
      (value) => {
        this.probesInFlight--;
        if (this.breaker.halfOpen && ++this.probeSuccesses >= this.probes) this.breaker.close();
        return value;
      },
      (error: unknown) => {
        this.probesInFlight--;
        if (this.breaker.halfOpen) {
          if (this.isFailure(error)) this.breaker.open();
          else this.probeSuccesses++;
          if (this.probeSuccesses >= this.probes) this.breaker.close();
        }
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

  private transition(): void {
    const to = this.state;
    if (to === this.last) return;
    const from = this.last;
    this.last = to;
    this.changes.emit({ name: this.name, from, to });
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

  /** Holds the breaker open until the returned handle is disposed (ref-counted); then it closes. */
  isolate(): Disposable {
    return this.stage.isolate();
  }

  /** Stops opossum's window timer; call when the breaker is discarded. */
  dispose(): void {
    this.stage.breaker.shutdown();
  }
}

/**
 * Opens after the failure rate in a rolling window crosses a threshold (with a minimum volume), fails fast
 * while open, lets `halfOpenProbes` probes through after `resetTimeoutMs`, and closes when they all succeed.
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
