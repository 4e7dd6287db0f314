import type { CircuitState } from './circuit-state.ts';
import { Emitter, type Subscribe } from './event.ts';

/** Emitted when an error is returned to the caller although another attempt was allowed by `maxAttempts`. */
export interface GiveUpEvent {
  attempt: number;
  reason: 'not-retryable' | 'budget-exhausted' | 'deadline' | 'retry-after-too-long' | 'cancelled';
  error: unknown;
}

/**
 * Every event of every policy in this copy of the library, as one typed union: subscribe once with
 * {@link onResilienceEvent} and switch on `kind` (metrics, logs). `policy` is the name given to the policy
 * (`name` option), or its kind when none was given. Only exceptional paths emit: a call that succeeds
 * first time emits nothing.
 */
export type ResilienceEvent =
  | { kind: 'retry'; policy: string; attempt: number; delayMs: number; error: unknown }
  | { kind: 'give-up'; policy: string; attempt: number; reason: GiveUpEvent['reason']; error: unknown }
  | { kind: 'timeout'; policy: string; timeoutMs: number }
  | { kind: 'breaker-state'; policy: string; from: CircuitState; to: CircuitState }
  | { kind: 'bulkhead-rejected'; policy: string; maxConcurrent: number; maxQueue: number }
  | { kind: 'fallback'; policy: string; error: unknown }
  | { kind: 'hedge'; policy: string; attempt: number; afterMs: number }
  | { kind: 'shed'; policy: string; limit: number }
  | { kind: 'limit-change'; policy: string; limit: number; previous: number }
  /**
   * A served request's deadline passed: `arrival` when it came with no time left (its handler never ran),
   * `in-flight` when it ran out while being served (its work behind policies was cancelled).
   */
  | { kind: 'deadline-exceeded'; policy: string; stage: 'arrival' | 'in-flight'; budgetMs: number };

/** The kinds of {@link ResilienceEvent}. */
export type ResilienceEventKind = ResilienceEvent['kind'];

const hub = new Emitter<ResilienceEvent>();

/** Subscribes to the events of every policy; returns the handle that unsubscribes. */
export const onResilienceEvent: Subscribe<ResilienceEvent> = hub.subscribe;

/**
 * True when someone listens: emitters check it before building an event, so unobserved policies allocate
 * nothing. @internal
 */
export function observed(): boolean {
  return hub.hasListeners;
}

/** Sends an event to every subscriber; a throwing subscriber changes nothing. @internal */
export function publish(event: ResilienceEvent): void {
  hub.emit(event);
}
