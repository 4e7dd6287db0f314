import type { Dispatcher } from 'undici';
import type { OutboundFacts } from './rules.ts';
import type { FaultRuntime } from './runtime.ts';

type DispatchHandler = Dispatcher.DispatchHandler;
type DispatchController = Dispatcher.DispatchController;

/** Options of {@link outboundFaults}. */
export interface OutboundFaultsOptions {
  /** The upstream's name (e.g. `user-service`), matched by a fault's `target`. */
  upstream?: string;
}

/** A controller for responses we make up ourselves (error, reset, held requests). */
function localController(onAbort: (reason: Error) => void): DispatchController {
  let aborted = false;
  let reason: Error | null = null;
  return {
    get aborted() {
      return aborted;
    },
    get paused() {
      return false;
    },
    get reason() {
      return reason;
    },
    abort(r: Error) {
      if (aborted) return;
      aborted = true;
      reason = r;
      onAbort(r);
    },
    pause() {},
    resume() {},
  };
}

function fail(handler: DispatchHandler, error: Error): void {
  const controller = localController(() => {});
  setImmediate(() => {
    handler.onRequestStart?.(controller, {});
    handler.onResponseError?.(controller, error);
  });
}

function respond(handler: DispatchHandler, status: number, faultId: string): void {
  const controller = localController(() => {});
  const body = Buffer.from(JSON.stringify({ error: 'injected fault', fault: faultId }));
  setImmediate(() => {
    handler.onRequestStart?.(controller, {});
    if (controller.aborted) return;
    handler.onResponseStart?.(
      controller,
      status,
      { 'content-type': 'application/json', 'x-chaos-fault': faultId },
      'Injected Fault',
    );
    handler.onResponseData?.(controller, body);
    handler.onResponseEnd?.(controller, {});
  });
}

function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Wraps a handler so that response bytes arrive no faster than `bytesPerSecond`. */
function throttle(handler: DispatchHandler, bytesPerSecond: number): DispatchHandler {
  let releaseAt = Date.now();
  let queue: Promise<void> = Promise.resolve();
  return {
    ...handler,
    onRequestStart: (c, ctx) => handler.onRequestStart?.(c, ctx),
    onResponseStart: (c, s, h, m) => handler.onResponseStart?.(c, s, h, m),
    onResponseData(controller, chunk) {
      releaseAt = Math.max(Date.now(), releaseAt) + (chunk.length / bytesPerSecond) * 1000;
      const at = releaseAt;
      controller.pause();
      queue = queue.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(
              () => {
                handler.onResponseData?.(controller, chunk);
                controller.resume();
                resolve();
              },
              Math.max(0, at - Date.now()),
            ),
          ),
      );
    },
    onResponseEnd(controller, trailers) {
      queue = queue.then(() => void handler.onResponseEnd?.(controller, trailers));
    },
    onResponseError: (c, e) => handler.onResponseError?.(c, e),
  };
}

/** Wraps a handler so that one bit of the first non-empty body chunk is flipped. */
function corrupting(handler: DispatchHandler, at: number, bit: number, corrupted?: () => void): DispatchHandler {
  let done = false;
  return {
    ...handler,
    onRequestStart: (c, ctx) => handler.onRequestStart?.(c, ctx),
    onResponseStart: (c, s, h, m) => handler.onResponseStart?.(c, s, h, m),
    onResponseData(controller, chunk) {
      if (done || chunk.length === 0) return handler.onResponseData?.(controller, chunk);
      done = true;
      // A copy: the chunk may be a view of a buffer undici reuses.
      const copy = Buffer.from(chunk);
      const i = Math.min(copy.length - 1, Math.floor(at * copy.length));
      copy[i] = copy[i]! ^ (1 << bit);
      corrupted?.();
      return handler.onResponseData?.(controller, copy);
    },
    onResponseEnd: (c, t) => handler.onResponseEnd?.(c, t),
    onResponseError: (c, e) => handler.onResponseError?.(c, e),
  };
}

/** A handler that takes a response and drops it: the answer to a duplicated call, which nobody asked for. */
const discard: DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError() {},
};

/**
 * An undici interceptor that applies the runtime's outbound faults (delay, error status, connection reset,
 * partition, bandwidth, name resolution, duplication, corruption) to the calls of one dispatcher. Compose it under the resilient client:
 * `new Agent().compose(outboundFaults(runtime, { upstream: 'user-service' }))`, so that the client's
 * timeouts, retries and breakers see the faults as they would see a real network. Services use it through
 * {@link FaultDispatcher}, which skips it (and `compose()`'s per-request handler adapter) while no fault is active.
 */
export function outboundFaults(
  runtime: FaultRuntime,
  options: OutboundFaultsOptions = {},
): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function faultyDispatch(opts, handler) {
      const rules = runtime.outbound.rules;
      if (rules.length === 0) return dispatch(opts, handler);
      const origin = String(opts.origin ?? '');
      const facts: OutboundFacts = {
        upstream: options.upstream,
        origin,
        path: (opts.path ?? '/').split('?', 1)[0]!,
        method: opts.method,
        port: Number(new URL(origin || 'http://x').port) || 0,
        replayable: opts.body == null || typeof opts.body === 'string' || opts.body instanceof Uint8Array,
        header: (name) => {
          const h = opts.headers as Record<string, string | string[] | undefined> | undefined;
          const v = h && !Array.isArray(h) ? h[name] : undefined;
          return Array.isArray(v) ? v[0] : v;
        },
      };
      for (const rule of rules) {
        if (!rule.matches(facts)) continue;
        const effect = rule.effect();
        switch (effect.type) {
          case 'delay': {
            const started = performance.now();
            setTimeout(() => {
              effect.applied?.(performance.now() - started);
              dispatch(opts, handler);
            }, effect.ms);
            return true;
          }
          case 'error':
            respond(handler, effect.status, rule.faultId);
            return true;
          case 'reset':
            fail(handler, socketError('ECONNRESET', `injected fault ${rule.faultId}: connection reset`));
            return true;
          case 'partition': {
            if (effect.mode === 'fail') {
              fail(
                handler,
                socketError('ECONNREFUSED', `injected fault ${rule.faultId}: ${origin} unreachable (partition)`),
              );
              return true;
            }
            // Hold the request like a dropped packet: the caller's timeout ends it, or the heal sends it.
            const held = rule.held!;
            const send = (): void => {
              held.delete(send);
              dispatch(opts, handler);
            };
            const controller = localController((reason) => {
              held.delete(send);
              handler.onResponseError?.(controller, reason);
            });
            held.add(send);
            handler.onRequestStart?.(controller, {});
            return true;
          }
          case 'bandwidth':
            return dispatch(opts, throttle(handler, effect.bytesPerSecond));
          case 'dns': {
            if (effect.action === 'error') {
              fail(
                handler,
                socketError('ENOTFOUND', `getaddrinfo ENOTFOUND ${effect.name} (injected fault ${rule.faultId})`),
              );
              return true;
            }
            const url = new URL(origin);
            url.hostname = effect.address;
            return dispatch({ ...opts, origin: url.origin }, handler);
          }
          case 'duplicate':
            // The copy first, so the server sees the duplicate before the call the caller waits for.
            dispatch(opts, discard);
            effect.sent?.();
            return dispatch(opts, handler);
          case 'corrupt':
            return dispatch(opts, corrupting(handler, effect.at, effect.bit, effect.corrupted));
        }
      }
      return dispatch(opts, handler);
    };
}
