import { request as undiciRequest, type Dispatcher } from 'undici';
import {
  circuitBreaker,
  CircuitState,
  type CircuitBreakerOptions,
  type CircuitBreakerPolicy,
} from '../circuit-breaker.ts';
import { compose } from '../compose.ts';
import { now } from '../clock.ts';
import { DEADLINE_HEADER, deadlineHeaderValue } from '../deadline.ts';
import { HttpStatusError } from '../errors.ts';
import { hedge, type HedgeOptions } from '../hedge.ts';
import type { Disposable } from '../event.ts';
import { noop } from '../compose.ts';
import type { ExecuteOptions, Pipeline, PolicyContext } from '../policy.ts';
import { retry, type RetryOptions } from '../retry.ts';
import { exponentialBackoff } from '../backoff.ts';
import { timeout } from '../timeout.ts';
import { parseRetryAfter } from './retry-after.ts';

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** One or more base URLs of the same upstream (replicas); calls go round-robin over healthy ones. */
  baseUrls: string | readonly string[];
  /** The upstream's name in events and metrics. Default: the first base URL's host. */
  name?: string;
  /** Budget of each attempt, in ms. Default 2 000. */
  timeoutMs?: number;
  /** Retry settings, or `false` for none. Default: 3 attempts, 50 ms doubling to 1 s, full jitter. */
  retry?: RetryOptions | false;
  /**
   * Hedge idempotent requests (see {@link hedge}): when one has not answered after the percentile of recent
   * latencies (or `delayMs`), it is sent again, to another replica when there is one; the first answer wins
   * and the other is aborted. Default `false` (no hedging).
   */
  hedge?: HedgeOptions | false;
  /** Settings of the breaker kept for each base URL, or `false` for none. */
  breaker?: Omit<CircuitBreakerOptions, 'name'> | false;
  /** The undici dispatcher (an Agent, or one composed with interceptors). Default: undici's global one. */
  dispatcher?: Dispatcher;
  /** Headers sent with every call. */
  headers?: Record<string, string>;
  /**
   * Returns the trace-context headers of the current span (W3C `traceparent`, `tracestate`), called once per
   * call; wire it to OpenTelemetry's propagator. Not called for a call whose own headers carry a
   * `traceparent`: that call continues the trace it names, and the ambient `tracestate` belongs to another.
   */
  traceHeaders?: () => Record<string, string> | undefined;
  /** Called after each attempt, for metrics and logs. */
  onAttempt?: (event: AttemptEvent) => void;
  /** Called when the breaker of one base URL changes state. */
  onBreakerStateChange?: (event: { upstream: string; endpoint: string; state: CircuitState }) => void;
}

/** One request. */
export interface HttpRequest {
  /** Default GET. */
  method?: string;
  /** Path (and query) appended to the base URL, e.g. `/users/42`. */
  path: string;
  headers?: Record<string, string>;
  /** A JSON body (serialised, with `content-type: application/json`), or a string. */
  body?: unknown;
  /** Makes a POST or PATCH safe to retry: sent as `Idempotency-Key`. */
  idempotencyKey?: string;
  /**
   * Overrides the method's idempotency: `true` for a read-only POST (e.g. a token or credentials check),
   * `false` to forbid retries of a call that must happen at most once.
   */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Absolute deadline on the policy clock (from `deadlineFromHeaders`); propagated to the callee. */
  deadline?: number;
}

/** A response the client returns (any status below 500 except 429). */
export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

/** What happened in one attempt. */
export interface AttemptEvent {
  upstream: string;
  endpoint: string;
  method: string;
  statusCode: number | undefined;
  error: unknown;
  durationMs: number;
  attempt: number;
}

/** Methods that are safe to repeat (RFC 9110 §9.2.2; TRACE too, but undici does not send it). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** True when `headers` name a `traceparent` (in any case: header names are case-insensitive). */
function hasTraceparent(headers: Record<string, string> | undefined): boolean {
  if (headers === undefined) return false;
  if ('traceparent' in headers) return true;
  for (const name in headers) if (name.toLowerCase() === 'traceparent') return true;
  return false;
}

interface Endpoint {
  url: string;
  breaker: CircuitBreakerPolicy | undefined;
  policy: Pipeline;
  subscription: Disposable | undefined;
}

/**
 * An HTTP client on undici for one upstream with its replicas: per-attempt timeout, retries (idempotent
 * methods, or with an idempotency key; Retry-After; budget), a breaker per endpoint with ejection of open
 * ones, deadline propagation in {@link DEADLINE_HEADER}, and trace-context passthrough.
 */
export class HttpClient {
  readonly name: string;
  private readonly endpoints: Endpoint[];
  private readonly retrying: Pipeline;
  /** What idempotent requests go through: retries, under a hedge when one is configured. */
  private readonly idempotent: Pipeline;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly headers: Record<string, string>;
  private readonly traceHeaders: (() => Record<string, string> | undefined) | undefined;
  private readonly onAttempt: ((event: AttemptEvent) => void) | undefined;
  private cursor = 0;

  constructor(options: HttpClientOptions) {
    const urls = (typeof options.baseUrls === 'string' ? [options.baseUrls] : [...options.baseUrls]).map((u) =>
      u.replace(/\/+$/, ''),
    );
    if (urls.length === 0) throw new RangeError('createHttpClient: baseUrls must name at least one URL');
    for (const u of urls) {
      if (!/^https?:\/\/[^/]+$/.test(u)) {
        throw new RangeError(
          `createHttpClient: baseUrls entry "${u}" must be an http(s) origin such as http://127.0.0.1:8080`,
        );
      }
    }
    this.name = options.name ?? new URL(urls[0]!).host;
    const perAttempt = timeout({ ms: options.timeoutMs ?? 2_000, name: this.name });
    this.endpoints = urls.map((url) => {
      const breaker =
        options.breaker === false ? undefined : circuitBreaker({ ...options.breaker, name: `${this.name}@${url}` });
      const subscription = breaker?.onStateChange((e) =>
        options.onBreakerStateChange?.({ upstream: this.name, endpoint: url, state: e.to }),
      );
      return { url, breaker, policy: breaker ? compose(breaker, perAttempt) : perAttempt, subscription };
    });
    this.retrying =
      options.retry === false
        ? noop
        : retry({
            maxAttempts: 3,
            backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 1_000 }),
            name: this.name,
            ...options.retry,
          });
    // The hedge outside the retries: each hedged attempt is a call with its own retries, and picks a replica
    // the request has not tried yet (the `tried` set is the request's, shared by its attempts).
    this.idempotent = options.hedge
      ? compose(hedge({ name: this.name, ...options.hedge }), this.retrying)
      : this.retrying;
    this.dispatcher = options.dispatcher;
    this.headers = options.headers ?? {};
    this.traceHeaders = options.traceHeaders;
    this.onAttempt = options.onAttempt;
  }

  /** The breaker state of each base URL. */
  get breakerStates(): Array<{ endpoint: string; state: CircuitState }> {
    return this.endpoints.map((e) => ({ endpoint: e.url, state: e.breaker?.state ?? CircuitState.Closed }));
  }

  /** The worst breaker state over the endpoints (open only when every endpoint is open). */
  get state(): CircuitState {
    let open = 0;
    let half = false;
    for (const e of this.endpoints) {
      const s = e.breaker?.state ?? CircuitState.Closed;
      if (s === CircuitState.Open) open++;
      else if (s === CircuitState.HalfOpen) half = true;
    }
    if (open === this.endpoints.length) return CircuitState.Open;
    return half || open > 0 ? CircuitState.HalfOpen : CircuitState.Closed;
  }

  /**
   * Sends a request. Resolves with any response below 500 other than 429; rejects with
   * {@link HttpStatusError} for 5xx/429 once retries are spent, with `BrokenCircuitError` when every
   * endpoint's breaker is open, with `TimeoutError`, or with the transport's error.
   */
  request(req: HttpRequest): Promise<HttpResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    const canRetry = req.idempotent ?? (IDEMPOTENT.has(method) || req.idempotencyKey !== undefined);
    const ambient = this.traceHeaders && !hasTraceparent(req.headers) ? this.traceHeaders() : undefined;
    const headers: Record<string, string> = { ...this.headers, ...ambient, ...req.headers };
    if (req.idempotencyKey !== undefined) headers['idempotency-key'] = req.idempotencyKey;
    let body: string | undefined;
    if (req.body !== undefined) {
      if (typeof req.body === 'string') body = req.body;
      else {
        body = JSON.stringify(req.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const policy = canRetry ? this.idempotent : noop;
    const options: ExecuteOptions = {};
    if (req.signal) options.signal = req.signal;
    if (req.deadline !== undefined) options.deadline = req.deadline;
    // The replicas this request has tried: a retry goes to one it has not (concurrent calls move the shared
    // round-robin cursor, so without this a retry could land on the replica that just failed).
    const tried = new Set<Endpoint>();
    return policy.execute((ctx) => this.attempt(method, req.path, headers, body, ctx, tried), options);
  }

  /** GET a path and parse the JSON answer. */
  get(path: string, init: Omit<HttpRequest, 'path' | 'method' | 'body'> = {}): Promise<HttpResponse> {
    return this.request({ ...init, path, method: 'GET' });
  }

  /** POST a JSON body. */
  post(path: string, body: unknown, init: Omit<HttpRequest, 'path' | 'method' | 'body'> = {}): Promise<HttpResponse> {
    return this.request({ ...init, path, method: 'POST', body });
  }

  /** Releases the breakers' timers. The dispatcher belongs to the caller. */
  close(): void {
    for (const e of this.endpoints) {
      e.subscription?.dispose();
      e.breaker?.dispose();
    }
  }

  /**
   * Picks the next endpoint (round-robin) whose breaker would attempt the call: closed, or half-open with a
   * probe place free, preferring one this request has not tried. A half-open endpoint whose probes are all
   * out would fail fast while a healthy replica could answer. When none accepts, the first one's breaker
   * fails fast with BrokenCircuitError.
   */
  private pick(tried: ReadonlySet<Endpoint>): Endpoint {
    const n = this.endpoints.length;
    let fallback: number | undefined;
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const e = this.endpoints[i]!;
      if (e.breaker !== undefined && !e.breaker.accepting) continue;
      if (!tried.has(e)) {
        this.cursor = (i + 1) % n;
        return e;
      }
      fallback ??= i;
    }
    if (fallback === undefined) return this.endpoints[0]!;
    this.cursor = (fallback + 1) % n;
    return this.endpoints[fallback]!;
  }

  private attempt(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    outer: PolicyContext,
    tried: Set<Endpoint>,
  ): Promise<HttpResponse> {
    const endpoint = this.pick(tried);
    tried.add(endpoint);
    return endpoint.policy.execute((ctx) => this.send(endpoint, method, path, headers, body, ctx, outer.attempt), {
      signal: outer.signal,
      deadline: outer.deadline,
    });
  }

  private async send(
    endpoint: Endpoint,
    method: string,
    path: string,
    baseHeaders: Record<string, string>,
    body: string | undefined,
    ctx: PolicyContext,
    attempt: number,
  ): Promise<HttpResponse> {
    const started = now();
    const headers = { ...baseHeaders };
    const budget = deadlineHeaderValue(ctx.deadline);
    // A budget the caller set in the headers itself is kept when it is the smaller: a call never hands on
    // more time than it was given (a per-attempt timeout must not raise a budget forwarded by hand).
    if (budget !== undefined && !(Number(headers[DEADLINE_HEADER]) <= Number(budget)))
      headers[DEADLINE_HEADER] = budget;
    let statusCode: number | undefined;
    try {
      const res = await undiciRequest(endpoint.url + path, {
        method: method as Dispatcher.HttpMethod,
        headers,
        signal: ctx.signal,
        ...(body !== undefined ? { body } : {}),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
      statusCode = res.statusCode;
      const text = await res.body.text();
      if (statusCode >= 500 || statusCode === 429) {
        const retryAfter = parseRetryAfter(res.headers['retry-after'], Date.now());
        throw new HttpStatusError(statusCode, this.name, retryAfter, text);
      }
      this.report(endpoint, method, statusCode, undefined, started, attempt);
      return {
        statusCode,
        headers: res.headers,
        body: text,
        json: <T>() => JSON.parse(text) as T,
      };
    } catch (error) {
      this.report(endpoint, method, statusCode, error, started, attempt);
      throw error;
    }
  }

  private report(
    endpoint: Endpoint,
    method: string,
    statusCode: number | undefined,
    error: unknown,
    started: number,
    attempt: number,
  ): void {
    this.onAttempt?.({
      upstream: this.name,
      endpoint: endpoint.url,
      method,
      statusCode,
      error,
      durationMs: now() - started,
      attempt,
    });
  }
}

/** Creates an {@link HttpClient}. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  return new HttpClient(options);
}
