import { request } from 'undici';

/** One scrape of the services' resilience metrics. */
export interface Observation {
  /** ms since the run started */
  at: number;
  /** `service->upstream` → breaker state (0 closed, 1 open, 2 half-open) */
  breakers: Record<string, number>;
  /** `service->upstream` → fallback_used_total */
  fallbacks: Record<string, number>;
  /** instance url → healthy */
  healthy: Record<string, boolean>;
  /** `service:kind` → resilience_events_total summed over instances and policies (retry, shed, deadline-exceeded…) */
  events: Record<string, number>;
}

const LINE = /^(circuit_breaker_state|fallback_used_total)\{service="([^"]+)",upstream="([^"]+)"\} ([\d.e+-]+)$/gm;
const EVENT = /^resilience_events_total\{([^}]*)\} ([\d.e+-]+)$/gm;
const LABEL = /(\w+)="([^"]*)"/g;

/** Adds the `resilience_events_total` series of one scrape into `events` (`service:kind` → count). */
export function addEvents(text: string, events: Record<string, number>): void {
  for (const m of text.matchAll(EVENT)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(LABEL)].map((l) => [l[1], l[2]]));
    const key = `${labels['service']}:${labels['kind']}`;
    events[key] = (events[key] ?? 0) + Number(m[2]);
  }
}

/** Scrapes `/metrics` and `/healthz` of every instance every `intervalMs`. */
export class Observer {
  readonly observations: Observation[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly urls: () => string[],
    private readonly now: () => number,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    const tick = async (): Promise<void> => {
      const o: Observation = { at: this.now(), breakers: {}, fallbacks: {}, healthy: {}, events: {} };
      await Promise.all(
        this.urls().map(async (url) => {
          try {
            const res = await request(`${url}/metrics`, { headersTimeout: 1000, bodyTimeout: 1000 });
            const text = await res.body.text();
            o.healthy[url] = res.statusCode === 200;
            for (const m of text.matchAll(LINE)) {
              const key = `${m[2]}->${m[3]}`;
              const v = Number(m[4]);
              if (m[1] === 'circuit_breaker_state') o.breakers[key] = Math.max(o.breakers[key] ?? 0, v);
              else o.fallbacks[key] = (o.fallbacks[key] ?? 0) + v;
            }
            addEvents(text, o.events);
          } catch {
            o.healthy[url] = false;
          }
        }),
      );
      this.observations.push(o);
    };
    void tick();
    this.timer = setInterval(() => void tick(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Observations in [from, to). */
  between(from: number, to: number): Observation[] {
    return this.observations.filter((o) => o.at >= from && o.at < to);
  }
}
