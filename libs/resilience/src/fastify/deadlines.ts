import { AsyncResource } from 'node:async_hooks';
import { now } from '../clock.ts';
import { withDeadline, type DeadlineScope } from '../deadline-context.ts';
import { budgetFromHeaders, MAX_BUDGET_MS } from '../deadline.ts';
import { DeadlineExceededError, ErrorCodes } from '../errors.ts';
import { observed, publish, type ResilienceEvent } from '../events.ts';
import { sharedPlugin, type ReplyLike, type RequestLike } from './fastify-like.ts';

/** Options of the {@link deadlines} plugin. */
export interface DeadlinesOptions {
  /** Budget of a request whose caller sent none, in ms. Default: none (such a request has no deadline). */
  defaultBudgetMs?: number;
  /** Largest budget accepted from a caller, in ms. Default 3 600 000 (one hour). */
  maxBudgetMs?: number;
  /**
   * Answer 504 at the deadline (after a 10 ms grace for the handler's own answer) when the handler has not
   * answered: the caller has given up, so its connection is freed. Work behind policies is cancelled at
   * the deadline either way. Default true.
   */
  answerAtDeadline?: boolean;
  /**
   * Carry the deadline through the request's async work (AsyncLocalStorage), so every policy and HTTP client
   * call inside it uses the remaining budget without being handed it. Default true. On Node 20 the first
   * AsyncLocalStorage scope turns on async hooks for the whole process (a throughput cost on promise-heavy
   * services); with `false`, pass `requestDeadline(request)` as the `deadline` of each call instead.
   */
  ambient?: boolean;
  /** Policy name of its `deadline-exceeded` events. Default `request-deadline`. */
  name?: string;
}

const kDeadline = Symbol('nova.requestDeadline');

/** How long after the deadline the plugin answers for a handler that has not, in ms. */
const ANSWER_GRACE_MS = 10;

/** The deadline of one request: its scope, its timer and the async context its hooks resume in. */
class RequestDeadline implements DeadlineScope {
  readonly deadline: number;
  /** The budget the request came with (after the cap), in ms. */
  budgetMs = 0;
  private controller: AbortController | undefined;
  expired = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  resource: AsyncResource | undefined;

  constructor(deadline: number) {
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.expired && !this.controller.signal.aborted) this.controller.abort(exceeded());
    return this.controller.signal;
  }

  expire(): void {
    this.expired = true;
    this.controller?.abort(exceeded());
  }

  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function inFlight(policy: string, scope: RequestDeadline): ResilienceEvent {
  return { kind: 'deadline-exceeded', policy, stage: 'in-flight', budgetMs: scope.budgetMs };
}

function exceeded(): DeadlineExceededError {
  return new DeadlineExceededError('the request deadline passed while it was being served');
}

type WithDeadline = RequestLike & { [kDeadline]?: RequestDeadline };

/**
 * The absolute deadline of a request (ms on the `now()` clock) set by the {@link deadlines} plugin, or
 * `Infinity` when it has none.
 */
export function requestDeadline(request: RequestLike): number {
  return (request as WithDeadline)[kDeadline]?.deadline ?? Infinity;
}

/** A signal that aborts at the request's deadline (never, when it has none): for work not behind a policy. */
export function requestDeadlineSignal(request: RequestLike): AbortSignal | undefined {
  return (request as WithDeadline)[kDeadline]?.signal;
}

function answer504(reply: ReplyLike, message: string): void {
  reply
    .code(504)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ error: message, code: ErrorCodes.DEADLINE_EXCEEDED }));
}

/**
 * End-to-end deadlines for a fastify app (`app.register(deadlines, options)`): each request's budget is
 * read from `x-request-deadline-ms` or gRPC's `grpc-timeout` (or `defaultBudgetMs`); a request that arrives
 * with none left is answered 504 without running its handler; while it is served, every policy and HTTP
 * client call in it uses the remaining budget (and forwards it downstream), and at the deadline its signal
 * aborts and, unless the handler already answered, the caller gets 504 `RES_ERR_DEADLINE_EXCEEDED`.
 */
export const deadlines = sharedPlugin<DeadlinesOptions>('nova-deadlines', (app, options, done) => {
  const maxBudget = options.maxBudgetMs ?? MAX_BUDGET_MS;
  const fallbackBudget = options.defaultBudgetMs;
  const answerAtDeadline = options.answerAtDeadline ?? true;
  const ambient = options.ambient ?? true;
  const name = options.name ?? 'request-deadline';
  for (const [name, v] of [
    ['defaultBudgetMs', fallbackBudget],
    ['maxBudgetMs', maxBudget],
  ] as const) {
    if (v !== undefined && !(v > 0)) {
      done(new RangeError(`deadlines: ${name} must be a positive number of ms, got ${String(v)}`));
      return;
    }
  }
  app.addHook('onRequest', ((request: WithDeadline, reply: ReplyLike, next: (e?: Error) => void) => {
    const asked = budgetFromHeaders(request.headers) ?? fallbackBudget;
    if (asked === undefined) return next();
    if (asked <= 0) {
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish({ kind: 'deadline-exceeded', policy: name, stage: 'arrival', budgetMs: asked });
      return answer504(reply, 'the request arrived with no time left in its deadline');
    }
    const budget = Math.min(asked, maxBudget);
    const scope = new RequestDeadline(now() + budget);
    scope.budgetMs = budget;
    request[kDeadline] = scope;
    scope.timer = setTimeout(() => {
      scope.expire();
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish(inFlight(name, scope));
      if (!answerAtDeadline) return;
      // A moment's grace first: a handler whose work was behind a policy fails with its own
      // DeadlineExceededError now and answers through its error handler, with its own logs.
      scope.timer = setTimeout(() => {
        scope.timer = undefined;
        if (!reply.sent && !request.raw.destroyed) {
          answer504(reply, `the request's deadline of ${budget} ms passed before it was answered`);
        }
      }, ANSWER_GRACE_MS);
      // Stryker disable next-line OptionalChaining: `?.` only guards runtimes whose timers are numbers (browsers, some fakes).
      scope.timer.unref?.();
    }, Math.ceil(budget));
    // The timer only bounds this request's work; it must not hold a closing server open.
    // Stryker disable next-line OptionalChaining: `?.` only guards runtimes whose timers are numbers (browsers, some fakes).
    scope.timer.unref?.();
    if (!ambient) return next();
    withDeadline(scope, () => {
      // Body parsing resumes in the socket's async context; hooks after it re-enter the request's own.
      scope.resource = new AsyncResource('nova.deadline');
      next();
    });
  }) as never);
  if (ambient) {
    const resume = ((request: WithDeadline, _reply: ReplyLike, next: (e?: Error) => void) => {
      const resource = request[kDeadline]?.resource;
      if (resource === undefined) next();
      else resource.runInAsyncScope(next);
    }) as never;
    app.addHook('preValidation', resume);
    app.addHook('preHandler', resume);
  }
  const finish = ((request: WithDeadline, _reply: ReplyLike, next: (e?: Error) => void) => {
    const scope = request[kDeadline];
    if (scope !== undefined) {
      // A handler that answered for itself at the deadline (a policy's DeadlineExceededError) may do so before
      // this plugin's own timer runs: it is still a deadline exceeded in flight.
      if (!scope.expired && now() >= scope.deadline) {
        // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
        if (observed()) publish(inFlight(name, scope));
      }
      scope.end();
    }
    next();
  }) as never;
  app.addHook('onResponse', finish);
  app.addHook('onRequestAbort', ((request: WithDeadline, next: (e?: Error) => void) => {
    request[kDeadline]?.end();
    next();
  }) as never);
  done();
});
