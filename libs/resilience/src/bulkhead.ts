import { BulkheadRejectedError } from './errors.ts';
import { observed, publish } from './events.ts';
import { Pipeline, cancelReason, cancelled, proceed, type Execution, type Scope, type Stage } from './policy.ts';

/** Options of {@link bulkhead} besides its sizes. */
export interface BulkheadOptions {
  /** A name for events. Default `bulkhead`. */
  name?: string;
}

/** A call waiting for a slot. */
interface Waiter {
  ex: Execution;
  next: number;
  scope: Scope | undefined;
  attempt: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** Set when its caller gave up (aborted, or an enclosing timeout expired): it has left the queue. */
  gone: boolean;
  /** Stops listening for the caller giving up. */
  unlisten: (() => void) | undefined;
}

class BulkheadStage implements Stage {
  active = 0;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private queue: Waiter[] = [];
  private head = 0;
  /** Waiters still in `queue` whose callers gave up; they no longer count as queued. */
  private gone = 0;

  readonly name: string;

  constructor(maxConcurrent: number, maxQueue: number, name: string) {
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
    this.name = name;
  }

  get queued(): number {
    return this.queue.length - this.head - this.gone;
  }

  // Bound once so the hot path allocates no closure.
  private readonly releaseOk = (value: unknown): unknown => {
    this.release();
    return value;
  };
  private readonly releaseErr = (error: unknown): never => {
    this.release();
    throw error;
  };

  run(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return proceed(ex, next, scope, attempt).then(this.releaseOk, this.releaseErr);
    }
    if (this.queued >= this.maxQueue) {
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) {
        publish({
          kind: 'bulkhead-rejected',
          policy: this.name,
          maxConcurrent: this.maxConcurrent,
          maxQueue: this.maxQueue,
        });
      }
      return Promise.reject(BulkheadRejectedError.stackless(this.maxConcurrent, this.maxQueue));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { ex, next, scope, attempt, resolve, reject, gone: false, unlisten: undefined };
      // A caller that gives up leaves the queue at once, so its place is free for the next caller.
      const signal = scope ? scope.signal : ex.callerSignal;
      if (signal) {
        const onAbort = (): void => {
          w.gone = true;
          this.gone++;
          reject(signal.reason);
          this.compact();
        };
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: the listener is also removed when the work settles; `once` only frees it sooner.
        signal.addEventListener('abort', onAbort, { once: true });
        w.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(w);
    });
  }

  /**
   * Drops departed waiters from the array once they are most of it, so callers that keep giving up while
   * the running calls hang cannot grow it without bound.
   */
  private compact(): void {
    // Stryker disable next-line all: memory only (when to compact departed waiters); `queued` is exact either way.
    if (this.gone < 64 || this.gone * 2 < this.queue.length - this.head) return;
    // Stryker disable next-line all: memory only, as above.
    this.queue = this.queue.slice(this.head).filter((w) => !w.gone);
    this.head = 0;
    this.gone = 0;
  }

  private release(): void {
    this.active--;
    while (this.active < this.maxConcurrent && this.head < this.queue.length) {
      const w = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Waiter;
      if (w.gone) {
        this.gone--;
        continue;
      }
      w.unlisten?.();
      // A waiter whose caller gave up or whose timeout expired must not take a slot.
      // Stryker disable next-line ConditionalExpression,BlockStatement: defence in depth; a waiter whose scope or caller gave up has already left through its abort listener.
      if (cancelled(w.ex, w.scope)) {
        w.reject(cancelReason(w.ex, w.scope));
        continue;
      }
      this.active++;
      proceed(w.ex, w.next, w.scope, w.attempt).then(this.releaseOk, this.releaseErr).then(w.resolve, w.reject);
    }
    // Stryker disable next-line ConditionalExpression,BlockStatement: memory only (drops the drained array).
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }
}

/** A bulkhead: {@link Pipeline} plus its occupancy. */
export class BulkheadPolicy extends Pipeline {
  private readonly stage: BulkheadStage;
  constructor(maxConcurrent: number, maxQueue: number, name = 'bulkhead') {
    const stage = new BulkheadStage(maxConcurrent, maxQueue, name);
    super([stage]);
    this.stage = stage;
  }
  /** Calls running now. */
  get active(): number {
    return this.stage.active;
  }
  /** Calls waiting for a slot. */
  get queued(): number {
    return this.stage.queued;
  }
}

/**
 * Runs at most `maxConcurrent` calls at once and queues up to `maxQueue` more; beyond that it rejects with
 * {@link BulkheadRejectedError} at once. A queued call whose caller aborts or whose timeout expires leaves
 * the queue without taking a slot.
 */
export function bulkhead(maxConcurrent: number, maxQueue = 0, options: BulkheadOptions = {}): BulkheadPolicy {
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new RangeError(`bulkhead: maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
  }
  if (!Number.isInteger(maxQueue) || maxQueue < 0) {
    throw new RangeError(`bulkhead: maxQueue must be an integer >= 0, got ${maxQueue}`);
  }
  return new BulkheadPolicy(maxConcurrent, maxQueue, options.name);
}
