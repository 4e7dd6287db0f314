import { compileMatch, MATCH_FIELDS, readMatch, type RequestMatch } from '../match.ts';
import { delaySampler, seededRandom } from '@nova/chaos-spec';
import { RequestMeter } from '../effect.ts';
import type { InboundEffect } from '../rules.ts';
import { SpecReader } from '../spec.ts';
import type { FaultDriver, FaultEnvironment, Injection } from './driver.ts';

/** Adds an inbound rule, counted by `meter`, and returns its removal. */
function inbound(env: FaultEnvironment, faultId: string, match: RequestMatch, effect: () => InboundEffect, meter: RequestMeter): Injection {
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
  apply: (spec, env, faultId) => inbound(env, faultId, spec.match, () => ({ type: 'abort' }), new RequestMeter('aborted')),
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
    inbound(env, faultId, spec.match, () => ({ type: 'error', status: spec.status, body: spec.body }), new RequestMeter(`answered ${spec.status} to`)),
};
