/** A subscription handle: call `dispose()` to stop listening. */
export interface Disposable {
  dispose(): void;
}

/** Subscribes a listener to one kind of event; returns the handle that unsubscribes it. */
export type Subscribe<T> = (listener: (event: T) => void) => Disposable;

/**
 * A typed event source. Policies keep the emitter private and expose only `subscribe`, so metrics and
 * logging attach from outside. Emitting with no listener costs one length check.
 */
export class Emitter<T> {
  private listeners: Array<(event: T) => void> = [];

  /** Adds a listener. */
  readonly subscribe: Subscribe<T> = (listener) => {
    this.listeners = [...this.listeners, listener];
    return {
      dispose: () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  /** True when at least one listener is attached. */
  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  /** Calls every listener; a throwing listener does not stop the others or the policy. */
  emit(event: T): void {
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) {
      try {
        ls[i]!(event);
      } catch {
        // A listener's bug must not change the outcome of the protected call.
      }
    }
  }
}
