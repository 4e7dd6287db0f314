import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The deadline of the request being served, carried through its async work by AsyncLocalStorage (set by
 * {@link withDeadline} or the fastify {@link deadlines} plugin). Every policy's `execute` and the HTTP
 * client read it when the call gives no deadline of its own, so an inbound budget bounds every outbound
 * call and timeout made while serving that request, without threading it through each function.
 */
export interface DeadlineScope {
  /** Absolute deadline on the `now()` clock, in ms. */
  readonly deadline: number;
  /** Aborts at the deadline: hand it to work that is not behind a policy (a database query, a stream). */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<DeadlineScope>();

/**
 * The ambient deadline (ms on the `now()` clock), or `Infinity` when no request deadline is in scope. Cheap
 * when nothing ever entered a scope: Node then skips the async-context lookup.
 */
export function ambientDeadline(): number {
  const scope = storage.getStore();
  return scope === undefined ? Infinity : scope.deadline;
}

/** The deadline scope of the request being served, if any. */
export function currentDeadline(): DeadlineScope | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` with `scope` as the ambient deadline of everything it starts, synchronously or asynchronously.
 * A scope whose deadline is later than an enclosing one is narrowed to it: a callee never gets more time
 * than its caller.
 */
export function withDeadline<T>(scope: DeadlineScope, fn: () => T): T {
  const outer = storage.getStore();
  return storage.run(outer !== undefined && outer.deadline < scope.deadline ? outer : scope, fn);
}
