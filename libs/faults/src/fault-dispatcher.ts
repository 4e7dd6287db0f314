import { Dispatcher } from 'undici';
import type { FaultRuntime } from './runtime.ts';
import { outboundFaults, type OutboundFaultsOptions } from './undici-interceptor.ts';

/**
 * An undici dispatcher that applies the runtime's outbound faults to the calls of `inner` (an `Agent`): give it
 * to the resilient client, so that the client's timeouts, retries and breakers meet the faults as they would
 * meet a real network problem. `new FaultDispatcher(new Agent(), runtime, { upstream: 'user-service' })`.
 *
 * Why not `agent.compose(outboundFaults(...))`: undici's `compose()` wraps every request's handler in an adapter
 * between its two handler APIs and reads the dispatcher through a Proxy, whether or not a fault is active —
 * measured at 4.5 % of a small service's CPU per request (`npx nx bench faults`). Here a request goes straight
 * to `inner` while no outbound fault is active in the runtime, and through the composed interceptor only while
 * one is (the decision is taken per request, when it is dispatched).
 */
export class FaultDispatcher extends Dispatcher {
  private readonly inner: Dispatcher;
  private readonly faulty: Dispatcher;
  private readonly runtime: FaultRuntime;

  constructor(inner: Dispatcher, runtime: FaultRuntime, options: OutboundFaultsOptions = {}) {
    super();
    this.inner = inner;
    this.runtime = runtime;
    this.faulty = inner.compose(outboundFaults(runtime, options));
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.runtime.outbound.rules.length === 0
      ? this.inner.dispatch(options, handler)
      : this.faulty.dispatch(options, handler);
  }

  /** Closes `inner` (the dispatcher owns it): waits for the requests in flight. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) return this.inner.close(callback);
    return this.inner.close();
  }

  /** Destroys `inner`: aborts the requests in flight. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    if (typeof a === 'function') return this.inner.destroy(a);
    if (b) return this.inner.destroy(a ?? null, b);
    return this.inner.destroy(a ?? null);
  }
}
