import type { Metric, Registry } from 'prom-client';

type Labels = { service: string; route: string; method: string; status: string };

/** What one (route, method, status) has seen. */
interface Cell {
  readonly labels: Labels;
  count: number;
  /** Sum of the latencies, in s. */
  sum: number;
  /** Requests per bucket, not cumulative: index i counts latencies in (bounds[i-1], bounds[i]], the last one above every bound. */
  readonly buckets: Float64Array;
}

/** One value line of prom-client's exposition. */
interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  /** prom-client's histogram buckets carry one (null: exemplars are off). */
  exemplar?: null;
}

/**
 * `http_requests_total` and `http_request_duration_seconds{service,route,method,status}`, recorded per request
 * with three map lookups and a bucket search, and formatted only when scraped.
 *
 * Why not prom-client's Counter and Histogram: each of their `inc`/`observe` calls validates the label object
 * and hashes it into a string key (sorting the label names), about 1.2 µs a request for the two of them in a
 * tight loop on our VM, and several times that under contention (docs/benchmarks.md, issue 22). A request's
 * labels come from a handful of route templates, methods and statuses, so the cell is found by identity
 * rather than rebuilt. The exposition is prom-client's own (the two objects are registered on its registry and
 * formatted by it), and a property test holds the text equal to what its Counter and Histogram print.
 */
export class RequestMetrics {
  private readonly byRoute = new Map<string, Map<string, Map<number, Cell>>>();
  private readonly cells: Cell[] = [];
  private readonly bounds: Float64Array;

  /**
   * @param service the `service` label of every series.
   * @param buckets the histogram's upper bounds, in s, increasing.
   */
  constructor(
    private readonly service: string,
    buckets: readonly number[],
  ) {
    this.bounds = Float64Array.from(buckets);
  }

  /** Records one finished request: its route template, method (already bounded), status and latency in s. */
  observe(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.byRoute.get(route);
    if (byMethod === undefined) this.byRoute.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let cell = byStatus.get(status);
    if (cell === undefined) byStatus.set(status, (cell = this.newCell(route, method, status)));
    cell.count++;
    cell.sum += seconds;
    // Prometheus buckets are `le`: a latency equal to a bound counts in that bound's bucket.
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    cell.buckets[i]!++;
  }

  /** Registers the two metrics on `registry`. */
  register(registry: Registry): void {
    // Objects with prom-client's metric shape (name, help, type, get, reset): its registry formats them.
    registry.registerMetric(this.counter() as unknown as Metric);
    registry.registerMetric(this.histogram() as unknown as Metric);
  }

  private newCell(route: string, method: string, status: number): Cell {
    const cell: Cell = {
      labels: { service: this.service, route, method, status: String(status) },
      count: 0,
      sum: 0,
      buckets: new Float64Array(this.bounds.length + 1),
    };
    this.cells.push(cell);
    return cell;
  }

  private reset(): void {
    this.byRoute.clear();
    this.cells.length = 0;
  }

  private counter(): object {
    return {
      name: 'http_requests_total',
      help: 'HTTP requests served, by route template, method and status code.',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: 'http_requests_total',
        help: 'HTTP requests served, by route template, method and status code.',
        type: 'counter',
        aggregator: 'sum',
        values: this.cells.map((c): Value => ({ labels: c.labels, value: c.count })),
      }),
      reset: () => this.reset(),
    };
  }

  private histogram(): object {
    const name = 'http_request_duration_seconds';
    const help = 'Time to serve an HTTP request, in seconds.';
    return {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const bucket = `${name}_bucket`;
        const values: Value[] = [];
        for (const c of this.cells) {
          let cumulative = 0;
          for (let i = 0; i < this.bounds.length; i++) {
            cumulative += c.buckets[i]!;
            values.push({
              labels: { le: this.bounds[i]!, ...c.labels },
              value: cumulative,
              metricName: bucket,
              exemplar: null,
            });
          }
          values.push({ labels: { le: '+Inf', ...c.labels }, value: c.count, metricName: bucket, exemplar: null });
          values.push({ labels: c.labels, value: c.sum, metricName: `${name}_sum` });
          values.push({ labels: c.labels, value: c.count, metricName: `${name}_count` });
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values };
      },
      reset: () => this.reset(),
    };
  }
}
