/**
 * Every Prometheus query `chaos run --env k8s` makes, in one place, over the services' RED metrics and
 * resilience series (`libs/telemetry/src/metrics.ts`): on a cluster the verdict's figures come from here, as
 * the load's own samples give them locally. Windows are whole seconds ending at the query's evaluation time.
 */

/** A PromQL range selector suffix for a window of `ms` (at least 1 s). */
const range = (ms: number): string => `[${Math.max(1, Math.round(ms / 1000))}s]`;
/** A label matcher's value, quoted for PromQL. */
const q = (v: string): string => JSON.stringify(v);

/** The queries, each for a window of `ms` ending at the evaluation time. */
export const QUERIES = {
  /** Requests the services answered. */
  requests: (ms: number) => `sum(increase(http_requests_total${range(ms)}))`,
  /** Requests answered with a 5xx. */
  errors: (ms: number) => `sum(increase(http_requests_total{status=~"5.."}${range(ms)}))`,
  /** A latency quantile of every request the services answered, in seconds. */
  latencyQuantile: (quantile: number, ms: number) =>
    `histogram_quantile(${quantile}, sum by (le) (increase(http_request_duration_seconds_bucket${range(ms)})))`,
  /** 1 when `service`'s breaker towards `upstream` was open at some scrape of the window. */
  breakerOpened: (service: string, upstream: string, ms: number) =>
    `max(max_over_time((circuit_breaker_state{service=${q(service)},upstream=${q(upstream)}} == bool 1)${range(ms)}))`,
  /** Times `service` answered from a fallback instead of `upstream`. */
  fallbacks: (service: string, upstream: string, ms: number) =>
    `sum(increase(fallback_used_total{service=${q(service)},upstream=${q(upstream)}}${range(ms)}))`,
  /** Resilience events of one kind (`retry`, `deadline-exceeded`…) in `service`. */
  events: (service: string, kind: string, ms: number) =>
    `sum(increase(resilience_events_total{service=${q(service)},kind=${q(kind)}}${range(ms)}))`,
} as const;

/** The Prometheus HTTP API refused a query, or could not be reached. */
export class PrometheusError extends Error {
  override readonly name = 'PrometheusError';
}

/** A Prometheus server's HTTP API (`/api/v1/query`). */
export class Prometheus {
  constructor(
    /** e.g. `http://127.0.0.1:9090` */
    readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /**
   * The value of an instant query at `atMs` (ms since the epoch): the sum of the vector it returns, or
   * undefined when it returns no series or NaN (no requests in the window, say).
   */
  async value(query: string, atMs: number): Promise<number | undefined> {
    const u = new URL('/api/v1/query', this.url);
    u.searchParams.set('query', query);
    u.searchParams.set('time', (atMs / 1000).toFixed(3));
    let body: {
      status: string;
      error?: string;
      data?: { resultType: string; result: Array<{ value: [number, string] }> };
    };
    try {
      const res = await fetch(u, { signal: AbortSignal.timeout(this.timeoutMs) });
      body = (await res.json()) as typeof body;
    } catch (error) {
      throw new PrometheusError(`Prometheus at ${this.url} did not answer: ${(error as Error).message}`);
    }
    if (body.status !== 'success')
      throw new PrometheusError(`Prometheus refused ${query}: ${body.error ?? 'unknown error'}`);
    const values = (body.data?.result ?? []).map((r) => Number(r.value[1])).filter((v) => Number.isFinite(v));
    return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
  }

  /** Whether the server answers and has scraped at least one sample of `http_requests_total`. */
  async ready(atMs: number): Promise<boolean> {
    try {
      return (await this.value('count(http_requests_total)', atMs)) !== undefined;
    } catch {
      return false;
    }
  }
}

/** The RED figures of one window, as the report shows them for local runs. */
export interface WindowFigures {
  count: number;
  errorRate: number;
  p50: number;
  p95: number;
  p99: number;
  errorsBy: Map<string, number>;
}

/** Requests, 5xx rate and latency percentiles (ms) of the window of `ms` ending at `endMs`. */
export async function windowFigures(prom: Prometheus, endMs: number, ms: number): Promise<WindowFigures> {
  const [count, errors, p50, p95, p99] = await Promise.all([
    prom.value(QUERIES.requests(ms), endMs),
    prom.value(QUERIES.errors(ms), endMs),
    prom.value(QUERIES.latencyQuantile(0.5, ms), endMs),
    prom.value(QUERIES.latencyQuantile(0.95, ms), endMs),
    prom.value(QUERIES.latencyQuantile(0.99, ms), endMs),
  ]);
  const n = Math.round(count ?? 0);
  const e = Math.round(errors ?? 0);
  return {
    count: n,
    errorRate: n ? Math.min(1, e / n) : 0,
    p50: (p50 ?? 0) * 1000,
    p95: (p95 ?? 0) * 1000,
    p99: (p99 ?? 0) * 1000,
    errorsBy: e ? new Map([['5xx answers', e]]) : new Map(),
  };
}
