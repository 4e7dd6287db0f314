/**
 * Evidence that a fault acted on its target, measured where it acted (in the target process, at the agent,
 * in the kernel) rather than inferred from the load: a verdict rests on it.
 */
export interface FaultEffect {
  /** The fault did what it was asked at least once (a request delayed, memory held, a process killed). */
  took: boolean;
  /** One line for people, with units, e.g. "delayed 212 of 240 requests, +101 ms mean (p99 +148 ms)". */
  summary: string;
  /** The figures behind the summary, by name; units are in the names (`addedMeanMs`, `peakRssBytes`). */
  figures: Record<string, number>;
  /** Requests (or calls) the fault acted on in each second since it was applied, for the report's chart. */
  perSecond?: number[];
}

/** The longest per-second series kept (an hour). */
const MAX_SECONDS = 3_600;

/** The most recent added delays kept for the mean and p99 (bounded memory under any load). */
const KEPT_DELAYS = 4_096;

/**
 * Counts what a request-level fault saw and did: requests (or fs calls, connections) it was consulted on,
 * those it acted on, and for delays the delay actually added (timer to callback, not the one asked for).
 */
export class RequestMeter {
  /** Requests the fault's rule was consulted on (its selector applied, percent drawn). */
  seen = 0;
  /** Requests it acted on. */
  affected = 0;
  private readonly delays: number[] = [];
  private delayCount = 0;
  private delaySum = 0;
  /** FNV-1a over every decision (hit or not, and the value drawn): equal for equal seeds and requests. */
  private hash = 0x811c9dc5;
  private readonly perSecond: number[] = [];
  private readonly started = performance.now();

  /**
   * @param verb what the fault does to a request, in the past tense ("aborted", "answered 503")
   * @param unit what it counts ("requests", "fs calls", "calls to user-service")
   */
  constructor(
    private readonly verb: string,
    private readonly unit = 'requests',
  ) {}

  /**
   * Records one decision of the fault's random draws: whether a seen request was hit, and the value drawn
   * for it (a delay in ms, rounded to µs). Two runs with the same seed and requests log the same decisions.
   */
  decided(hit: boolean, value = 0): void {
    if (hit) {
      const second = Math.floor((performance.now() - this.started) / 1000);
      if (second < MAX_SECONDS) {
        while (this.perSecond.length <= second) this.perSecond.push(0);
        this.perSecond[second]!++;
      }
    }
    const word = hit ? Math.round(value * 1000) + 1 : 0;
    for (const byte of [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, (word >>> 24) & 0xff]) {
      this.hash = Math.imul(this.hash ^ byte, 0x01000193) >>> 0;
    }
  }

  /** Wraps a rule's matcher: every request it is asked about is seen, and a miss is a logged decision. */
  counting<F>(matches: (facts: F) => boolean): (facts: F) => boolean {
    return (facts) => {
      this.seen++;
      const hit = matches(facts);
      if (!hit) this.decided(false);
      return hit;
    };
  }

  /** Wraps a rule's effect: every call is an affected request, logged with the delay drawn for it (if any). */
  acting<E extends { type: string }>(effect: () => E): () => E {
    return () => {
      this.affected++;
      const e = effect();
      this.decided(true, e.type === 'delay' ? ((e as { ms?: number }).ms ?? 0) : 0);
      return e;
    };
  }

  /** Records a delay actually added to one affected request, in ms. */
  delayed(ms: number): void {
    this.delays[this.delayCount % KEPT_DELAYS] = ms;
    this.delayCount++;
    this.delaySum += ms;
  }

  effect(): FaultEffect {
    const figures: Record<string, number> = { seen: this.seen, affected: this.affected, decisionHash: this.hash };
    let summary = `${this.verb} ${this.affected} of ${this.seen} ${this.unit}`;
    if (this.delayCount > 0) {
      const mean = this.delaySum / this.delayCount;
      const sorted = [...this.delays].sort((a, b) => a - b);
      const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
      figures['addedMeanMs'] = round(mean);
      figures['addedP99Ms'] = round(p99);
      summary += `, +${round(mean)} ms mean (p99 +${round(p99)} ms)`;
    }
    return { took: this.affected > 0, summary, figures, perSecond: [...this.perSecond] };
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** Formats a byte count for a summary (MiB with one decimal). */
export function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** The effect of a fault whose driver measures nothing (never a PASS: the verdict needs evidence). */
export function unmeasured(kind: string): FaultEffect {
  return { took: false, summary: `${kind}: no effect measured`, figures: {} };
}

/** Parses an effect from the wire (`effect_json`); undefined when absent or malformed. */
export function parseEffect(json: string | undefined): FaultEffect | undefined {
  if (!json) return undefined;
  try {
    const e = JSON.parse(json) as Partial<FaultEffect>;
    if (
      typeof e.took !== 'boolean' ||
      typeof e.summary !== 'string' ||
      typeof e.figures !== 'object' ||
      e.figures === null
    )
      return undefined;
    const perSecond =
      Array.isArray(e.perSecond) && e.perSecond.every((n) => typeof n === 'number') ? { perSecond: e.perSecond } : {};
    return { took: e.took, summary: e.summary, figures: e.figures, ...perSecond };
  } catch {
    return undefined;
  }
}
