import { Emitter, type Subscribe } from './event.ts';
import { observed, publish } from './events.ts';
import { Pipeline, proceed, type Execution, type Scope, type Stage } from './policy.ts';

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** Which errors the fallback answers. Default: every error except the caller's own abort. */
  when?: (error: unknown) => boolean;
  /** A name for events. Default `fallback`. */
  name?: string;
}

/** Emitted when the fallback answers instead of the protected function. */
export interface FallbackEvent {
  error: unknown;
}

class FallbackStage implements Stage {
  readonly used = new Emitter<FallbackEvent>();
  private readonly produce: (error: unknown) => unknown;
  private readonly when: (error: unknown) => boolean;
  private readonly name: string;
  constructor(produce: (error: unknown) => unknown, when: (error: unknown) => boolean, name: string) {
    this.produce = produce;
    this.when = when;
    this.name = name;
  }

  run(ex: Execution, next: number, scope: Scope | undefined, attempt: number): Promise<unknown> {
    return proceed(ex, next, scope, attempt).catch((error: unknown) => {
      // A caller that aborted wants nothing, not a substitute.
      if ((ex.callerSignal?.aborted ?? false) || !this.when(error)) throw error;
      this.used.emit({ error });
      // Stryker disable next-line ConditionalExpression: publishing with no listener does nothing; the check only saves building the event.
      if (observed()) publish({ kind: 'fallback', policy: this.name, error });
      return this.produce(error);
    });
  }
}

/** A fallback answering `R`: {@link Pipeline} plus its event. */
export class FallbackPolicy<R> extends Pipeline<R> {
  /** Subscribes to each use of the fallback. */
  readonly onFallback: Subscribe<FallbackEvent>;
  constructor(produce: (error: unknown) => unknown, when: (error: unknown) => boolean, name = 'fallback') {
    const stage = new FallbackStage(produce, when, name);
    super([stage]);
    this.onFallback = stage.used.subscribe;
  }
}

/**
 * Answers with `produce(error)` (a value or a promise) when the protected call fails. Put it outermost to
 * cover every other policy's rejection, including an open breaker's.
 */
export function fallback<R>(
  produce: (error: unknown) => R | PromiseLike<R>,
  options: FallbackOptions = {},
): FallbackPolicy<R> {
  return new FallbackPolicy<R>(produce, options.when ?? (() => true), options.name);
}
