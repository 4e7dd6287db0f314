import { now } from './clock.ts';
import { TimeoutError } from './errors.ts';
import { observed, publish } from './events.ts';
import { Pipeline, Scope, proceed, type Execution, type Stage } from './policy.ts';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** The time budget of each execution through this policy, in ms. Must be > 0. */
  ms: number;
  /** A name for events. Default `timeout`. */
  name?: string;
}

/** One running execution under a timeout: a scope plus the way to reject its caller. */
class TimedScope extends Scope {
  reject: ((err: unknown) => void) | undefined = undefined;
  /** The policy's budget, for the error message. */
  budgetMs = 0;
}

/**
 * All executions of one timeout policy share a fixed budget, so their deadlines arrive in the order they
 * started: a FIFO queue with a single timer armed for its head replaces one `setTimeout` per call. Entries
 * that finish are skipped (and dropped from the head at once), so a sequential caller keeps the queue at
 * one entry and arms about one timer per `ms`.
 */
class DeadlineQueue {
  private items: TimedScope[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  add(entry: TimedScope): void {
    this.items.push(entry);
    // Stryker disable next-line ConditionalExpression: performance only; an extra timer finds nothing due and re-arms.
    if (this.timer === undefined) this.arm(entry.deadline);
    // Stryker disable next-line OptionalChaining: `?.` only guards runtimes whose timers are numbers (browsers, some fakes).
    else this.timer.ref?.();
  }

  /** Drops finished entries from the head so the queue does not grow on the success path. */
  // Stryker disable all: process lifetime and memory only (test/process-exit.test.ts covers it outside the mutation run).
  trim(): void {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.settled) this.head++;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
      // Nothing is waiting on the timer any more: it may stay armed (re-arming per call costs more) but
      // must not keep the process alive.
      this.timer?.unref?.();
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }
  // Stryker restore all

  private arm(at: number): void {
    // Referenced while an execution waits on it: a process whose only pending work is a timed call must
    // live to see the TimeoutError (an unref'd timer let such a process exit 0 silently).
    // Stryker disable next-line MethodExpression: performance only; an early timer finds nothing due and re-arms.
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - now())));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const t = now();
    const items = this.items;
    while (this.head < items.length) {
      const e = items[this.head]!;
      // Stryker disable next-line ConditionalExpression,UpdateOperator: a settled entry at the head is skipped either way (its deadline passed or it waits behind).
      if (e.settled) this.head++;
      else if (e.deadline <= t) {
        this.head++;
        // Stryker disable next-line BooleanLiteral: the caller's promise is already rejected; a late answer is ignored either way.
        e.settled = true;
        const err = new TimeoutError(e.budgetMs);
        e.expire(err);
        e.reject!(err);
        // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
        if (observed()) publish({ kind: 'timeout', policy: this.name, timeoutMs: e.budgetMs });
      } else break;
    }
    // Stryker disable next-line MethodExpression: process lifetime and memory only; test/process-exit.test.ts covers it outside the mutation run.
    this.trim();
    if (this.head < this.items.length) this.arm(this.items[this.head]!.deadline);
  };
}

class TimeoutStage implements Stage {
  private readonly queue: DeadlineQueue;
  private readonly ms: number;
  constructor(ms: number, name: string) {
    this.ms = ms;
    this.queue = new DeadlineQueue(name);
  }

  run(ex: Execution, next: number, outer: Scope | undefined, attempt: number): Promise<unknown> {
    const own = now() + this.ms;
    const inherited = Math.min(outer ? outer.deadline : Infinity, ex.deadline);
    // An enclosing deadline that comes first is enforced by its own scope; this scope still reports it.
    const scope = new TimedScope(outer, ex.callerSignal, Math.min(own, inherited));
    scope.budgetMs = this.ms;
    return new Promise((resolve, reject) => {
      scope.reject = reject;
      if (own <= inherited) this.queue.add(scope);
      proceed(ex, next, scope, attempt).then(
        (v) => {
          // Stryker disable next-line ConditionalExpression: a settled promise ignores a second answer; this only skips the bookkeeping.
          if (scope.settled) return;
          scope.release();
          // Stryker disable next-line MethodExpression: process lifetime and memory only; test/process-exit.test.ts covers it outside the mutation run.
          this.queue.trim();
          resolve(v);
        },
        (e: unknown) => {
          // Stryker disable next-line ConditionalExpression: a settled promise ignores a second answer; this only skips the bookkeeping.
          if (scope.settled) return;
          scope.release();
          // Stryker disable next-line MethodExpression: process lifetime and memory only; test/process-exit.test.ts covers it outside the mutation run.
          this.queue.trim();
          reject(e);
        },
      );
    });
  }
}

/**
 * Fails an execution with {@link TimeoutError} once `ms` have passed, and aborts the `signal` its function
 * received (if the function read it), so cooperative work stops too. The caller is answered at the deadline
 * even when the function ignores its signal. Nothing is aborted after a success, and no AbortController is
 * created unless the function reads `context.signal`.
 */
export function timeout(ms: number | TimeoutOptions): Pipeline {
  const budget = typeof ms === 'number' ? ms : ms.ms;
  if (!Number.isFinite(budget) || budget <= 0) {
    throw new RangeError(`timeout: ms must be a positive number of milliseconds, got ${String(budget)}`);
  }
  return new Pipeline([new TimeoutStage(budget, (typeof ms === 'number' ? undefined : ms.name) ?? 'timeout')]);
}
