import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';

/**
 * An OpenTelemetry context manager that carries the active context through synchronous code only: inside
 * `context.with(ctx, fn)` (and `tracer.startActiveSpan`), `context.active()` is `ctx` until `fn` returns or
 * throws. A callback that awaits sees the outer context again after its first `await`.
 *
 * Why not the SDK's default (an AsyncLocalStorage): on Node 20 the first `context.with()` on it turns on async
 * hooks for the whole process, and from then on every promise and async resource pays a hook. Our services
 * never need an ambient context (a request's trace travels with the request: see `RequestTraces`), but the
 * SDK's batch span processor calls `context.with()` on every export, so exporting spans alone turned the hooks
 * on: with spans exported, a trivial GET cost 24.0–25.1 µs of CPU with it and 21.3–22.6 with this manager
 * (docs/benchmarks.md, issue 22).
 */
export class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const outer = this.current;
    this.current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = outer;
    }
  }

  /** A function bound to `context` runs inside it whenever it is called; anything else is returned as it is. */
  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (thisArg: unknown, args: unknown[]): unknown =>
      this.with(context, () => (target as (...a: unknown[]) => unknown).apply(thisArg, args));
    return function (this: unknown, ...args: unknown[]) {
      return run(this, args);
    } as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}
