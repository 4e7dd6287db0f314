import { BulkheadRejectedError } from './errors.ts';
import { Pipeline, cancelReason, cancelled, proceed, type Execution, type Scope, type Stage } from './policy.ts';

/** A call waiting for a slot. */
interface Waiter {
  ex: Execution;
  next: number;
  scope: Scope | undefined;
  attempt: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

class BulkheadStage implements Stage {
  active = 0;
  private queue: Waiter[] = [];
  private head = 0;

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {}

  get queued(): number {
    return this.queue.length - this.head;
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
      return Promise.reject(BulkheadRejectedError.stackless(this.maxConcurrent, this.maxQueue));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ex, next, scope, attempt, resolve, reject });
    });
  }

  private release(): void {
    this.active--;
    while (this.active < this.maxConcurrent && this.head < this.queue.length) {
      const w = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Waiter;
      // A waiter whose caller gave up or whose timeout expired must not take a slot.
      if (cancelled(w.ex, w.scope)) {
        w.reject(cancelReason(w.ex, w.scope));
        continue;
      }
      this.active++;
      proceed(w.ex, w.next, w.scope, w.attempt).then(this.releaseOk, this.releaseErr).then(w.resolve, w.reject);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }
}

/** A bulkhead: {@link Pipeline} plus its occupancy. */
export class BulkheadPolicy extends Pipeline {
  private readonly stage: BulkheadStage;
  constructor(maxConcurrent: number, maxQueue: number) {
    const stage = new BulkheadStage(maxConcurrent, maxQueue);
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
export function bulkhead(maxConcurrent: number, maxQueue = 0): BulkheadPolicy {
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new RangeError(`bulkhead: maxConcurrent must be an integer >= 1, got ${maxConcurrent}`);
  }
  if (!Number.isInteger(maxQueue) || maxQueue < 0) {
    throw new RangeError(`bulkhead: maxQueue must be an integer >= 0, got ${maxQueue}`);
  }
  return new BulkheadPolicy(maxConcurrent, maxQueue);
}
