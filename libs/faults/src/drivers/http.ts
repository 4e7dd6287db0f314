import { compileMatch, MATCH_FIELDS, readMatch, type RequestMatch } from '../match.ts';
import { delaySampler, seededRandom } from '@nova/chaos-spec';
import { RequestMeter } from '../effect.ts';
import { FaultSpecError } from '../errors.ts';
import type { HttpRewrite } from '../http-rewrite.ts';
import type { InboundEffect, InboundRule } from '../rules.ts';
import { SpecReader } from '../spec.ts';
import type { FaultDriver, FaultEnvironment, Injection } from './driver.ts';

/** Adds an inbound rule, counted by `meter`, and returns its removal. */
function inbound(
  env: FaultEnvironment,
  faultId: string,
  match: RequestMatch,
  effect: () => InboundEffect,
  meter: RequestMeter,
): Injection {
  const rule = { faultId, matches: meter.counting(compileMatch(match)), effect: meter.acting(effect) };
  env.inbound.add(rule);
  return { recover: () => env.inbound.remove(rule), effect: () => meter.effect() };
}

interface DelaySpec {
  match: RequestMatch;
  latencyMs: number;
  jitterMs: number;
  correlation: number;
}

/** Reads latency, jitter (ms) and correlation (percent, like netem) of a delay spec. */
export function readDelay(r: SpecReader): Omit<DelaySpec, 'match'> {
  return {
    latencyMs: r.number('latencyMs', { min: 0, max: 600_000 }),
    jitterMs: r.number('jitterMs', { min: 0, max: 600_000, default: 0 }),
    correlation: r.number('correlation', { min: 0, max: 100, default: 0 }) / 100,
  };
}

/** HTTPChaos delay / NetworkChaos delay, inbound: hold matching requests before the handler runs. */
export const httpDelay: FaultDriver<DelaySpec> = {
  kind: 'http-delay',
  seeded: true,
  description: 'delay inbound requests (latencyMs, jitterMs, correlation %, path, method, headers, port, percent)',
  parse(spec) {
    const r = new SpecReader('http-delay', spec);
    r.only('latencyMs', 'jitterMs', 'correlation', ...MATCH_FIELDS);
    return { ...readDelay(r), match: readMatch(r) };
  },
  apply(spec, env, faultId) {
    const random = spec.match.seed === undefined ? Math.random : seededRandom(spec.match.seed + 1);
    const next = delaySampler(spec.latencyMs, spec.jitterMs, spec.correlation, random);
    const meter = new RequestMeter('delayed');
    const applied = (ms: number): void => meter.delayed(ms);
    return inbound(env, faultId, spec.match, () => ({ type: 'delay', ms: next(), applied }), meter);
  },
};

/** HTTPChaos abort: drop the connection of matching requests without an answer. */
export const httpAbort: FaultDriver<{ match: RequestMatch }> = {
  kind: 'http-abort',
  seeded: true,
  description: 'drop the connection of inbound requests (path, method, headers, port, percent)',
  parse(spec) {
    const r = new SpecReader('http-abort', spec);
    r.only(...MATCH_FIELDS);
    return { match: readMatch(r) };
  },
  apply: (spec, env, faultId) =>
    inbound(env, faultId, spec.match, () => ({ type: 'abort' }), new RequestMeter('aborted')),
};

/** HTTPChaos replace of the status code: answer matching requests with an error status. */
export const httpError: FaultDriver<{ match: RequestMatch; status: number; body: string }> = {
  kind: 'http-error',
  seeded: true,
  description: 'answer inbound requests with an error status (status, body, path, method, headers, port, percent)',
  parse(spec) {
    const r = new SpecReader('http-error', spec);
    r.only('status', 'body', ...MATCH_FIELDS);
    return {
      status: r.number('status', { min: 400, max: 599, integer: true, default: 500 }),
      body: r.string('body', { default: '{"error":"injected fault"}' }),
      match: readMatch(r),
    };
  },
  apply: (spec, env, faultId) =>
    inbound(
      env,
      faultId,
      spec.match,
      () => ({ type: 'error', status: spec.status, body: spec.body }),
      new RequestMeter(`answered ${spec.status} to`),
    ),
};

/** Reads `[[name, value], ...]` (Chaos Mesh's patch headers and queries). */
function readPairs(kind: string, field: string, v: unknown): Array<[string, string]> | undefined {
  if (v === undefined) return undefined;
  if (
    !Array.isArray(v) ||
    v.some((p) => !Array.isArray(p) || p.length !== 2 || p.some((x: unknown) => typeof x !== 'string'))
  ) {
    throw new FaultSpecError(kind, field, 'must be a list of [name, value] pairs of strings');
  }
  return v as Array<[string, string]>;
}

/** Reads the replace and patch blocks of an http-rewrite spec (HTTPChaos's, with the body already decoded). */
function readRewrite(r: SpecReader, target: 'request' | 'response'): Pick<HttpRewrite, 'replace' | 'patch'> {
  const out: Pick<HttpRewrite, 'replace' | 'patch'> = {};
  const raw = r.raw();
  if (raw['replace'] !== undefined) {
    const x = r.nested('replace');
    x.only(...(target === 'request' ? ['path', 'method', 'headers', 'queries', 'body'] : ['headers', 'body', 'code']));
    const body = x.optionalString('body');
    const code = target === 'response' ? x.number('code', { min: 100, max: 599, integer: true, default: 0 }) : 0;
    out.replace = {
      ...(x.optionalString('path') !== undefined ? { path: x.string('path') } : {}),
      ...(x.optionalString('method') !== undefined ? { method: x.string('method').toUpperCase() } : {}),
      ...(x.record('headers') ? { headers: x.record('headers') } : {}),
      ...(x.record('queries') ? { queries: x.record('queries') } : {}),
      ...(body !== undefined ? { body: Buffer.from(body, 'base64') } : {}),
      ...(code ? { code } : {}),
    };
  }
  if (raw['patch'] !== undefined) {
    const x = r.nested('patch');
    x.only(...(target === 'request' ? ['headers', 'queries', 'body'] : ['headers', 'body']));
    const p = x.raw();
    const headers = readPairs(r.kind, 'patch.headers', p['headers']);
    const queries = readPairs(r.kind, 'patch.queries', p['queries']);
    let body: unknown;
    if (p['body'] !== undefined) {
      const b = x.nested('body');
      b.only('type', 'value');
      b.string('type', { oneOf: ['JSON'] });
      try {
        body = JSON.parse(b.string('value'));
      } catch {
        throw new FaultSpecError(r.kind, 'patch.body.value', 'must be a JSON document (a merge patch, RFC 7396)');
      }
    }
    out.patch = {
      ...(headers ? { headers } : {}),
      ...(queries ? { queries } : {}),
      ...(body !== undefined ? { body } : {}),
    };
  }
  if (!out.replace && !out.patch) throw new FaultSpecError(r.kind, 'replace', 'or patch is required: what to rewrite');
  return out;
}

/**
 * HTTPChaos replace and patch: matching requests (before the route sees them: path, method, headers,
 * queries, body) or their responses (status, headers, body) are rewritten. The evidence: requests or
 * responses actually rewritten, of those seen.
 */
export const httpRewrite: FaultDriver<{ match: RequestMatch; rewrite: HttpRewrite }> = {
  kind: 'http-rewrite',
  seeded: true,
  description:
    'rewrite inbound requests or their responses (target: request | response, replace, patch, path, method, headers, port, percent)',
  parse(spec) {
    const r = new SpecReader('http-rewrite', spec);
    r.only('target', 'replace', 'patch', ...MATCH_FIELDS);
    const target = r.string('target', { oneOf: ['request', 'response'] }) as 'request' | 'response';
    return { match: readMatch(r), rewrite: { target, ...readRewrite(r, target) } };
  },
  apply(spec, env, faultId) {
    const meter = new RequestMeter(`rewrote the ${spec.rewrite.target} of`);
    let rewritten = 0;
    const applied = (): void => void rewritten++;
    const rule: InboundRule = {
      faultId,
      stage: 'rewrite',
      matches: meter.counting(compileMatch(spec.match)),
      effect: meter.acting(() => ({ type: 'rewrite', rewrite: spec.rewrite, applied })),
    };
    env.inbound.add(rule);
    return {
      recover: () => env.inbound.remove(rule),
      effect: () => {
        const e = meter.effect();
        return {
          ...e,
          took: rewritten > 0,
          summary: `${e.summary} (${rewritten} rewritten)`,
          figures: { ...e.figures, rewritten },
        };
      },
    };
  },
};
