import picomatch from 'picomatch';
import { seededRandom } from '@nova/chaos-spec';
import type { SpecReader } from './spec.ts';

/** Which requests a fault affects: HTTPChaos's selectors plus a percentage. */
export interface RequestMatch {
  /** Glob on the path (`/users/*`, `**`); default every path. */
  path?: string;
  /** HTTP method; default any. */
  method?: string;
  /** Headers that must be present with these exact values. */
  headers?: Record<string, string>;
  /** Local port the request arrived on (inbound) or the upstream port (outbound); default any. */
  port?: number;
  /** Share of matching requests affected, 0–100. Default 100. */
  percent: number;
  /** Seed of the percent decision, for replay. Default: random. */
  seed?: number;
}

/** Reads the common match fields of a spec. */
export function readMatch(r: SpecReader): RequestMatch {
  const seed = r.number('seed', { default: -1, integer: true, min: -1 });
  return {
    path: r.optionalString('path'),
    method: r.optionalString('method')?.toUpperCase(),
    headers: r.record('headers'),
    port: r.number('port', { default: 0, integer: true, min: 0, max: 65535 }) || undefined,
    percent: r.number('percent', { default: 100, min: 0, max: 100 }),
    ...(seed >= 0 ? { seed } : {}),
  };
}

/** The spec fields {@link readMatch} reads. */
export const MATCH_FIELDS = ['path', 'method', 'headers', 'port', 'percent', 'seed'] as const;

/** What a matcher looks at. */
export interface RequestFacts {
  path: string;
  method: string;
  port: number;
  header(name: string): string | undefined;
}

/** Compiles a match into a predicate; the percent draw uses the fault's own (seeded) random source. */
export function compileMatch(match: RequestMatch): (facts: RequestFacts) => boolean {
  const isPath =
    match.path && match.path !== '*' && match.path !== '**' ? picomatch(match.path, { dot: true }) : undefined;
  const random = match.seed === undefined ? Math.random : seededRandom(match.seed);
  const headers = match.headers ? Object.entries(match.headers).map(([k, v]) => [k.toLowerCase(), v] as const) : [];
  return (facts) => {
    if (match.method && facts.method !== match.method) return false;
    if (match.port && facts.port !== match.port) return false;
    if (isPath && !isPath(facts.path)) return false;
    for (const [k, v] of headers) if (facts.header(k) !== v) return false;
    return match.percent >= 100 || random() * 100 < match.percent;
  };
}
