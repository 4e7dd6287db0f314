import { RequestMeter } from '../effect.ts';
import { compileMatch, MATCH_FIELDS, readMatch, type RequestMatch } from '../match.ts';
import { delaySampler, seededRandom } from '@nova/chaos-spec';
import { targetMatches, type OutboundEffect, type OutboundFacts, type OutboundRule } from '../rules.ts';
import { SpecReader } from '../spec.ts';
import type { FaultDriver, FaultEnvironment, Injection } from './driver.ts';
import { readDelay } from './http.ts';

/** Counts calls to `target` (any upstream when undefined) that the fault `verb`. */
const callMeter = (verb: string, target: string | undefined): RequestMeter =>
  new RequestMeter(verb, `calls to ${target ?? 'any upstream'}`);

/**
 * Adds an outbound rule and returns its removal (which releases held requests). The meter counts the calls
 * to the target (seen) and those the fault acted on.
 */
function outbound(
  env: FaultEnvironment,
  faultId: string,
  target: string | undefined,
  match: RequestMatch,
  effect: () => OutboundEffect,
  meter: RequestMeter,
  held?: Set<() => void>,
  matcher: (facts: OutboundFacts) => boolean = compileMatch(match),
): Injection {
  const inner = meter.counting(matcher);
  const rule: OutboundRule = {
    faultId,
    // Only calls to the target are seen by this fault; the others are not its business.
    matches: (facts: OutboundFacts) => targetMatches(target, facts) && inner(facts),
    effect: meter.acting(effect),
    ...(held ? { held } : {}),
  };
  env.outbound.add(rule);
  return {
    effect: () => meter.effect(),
    recover: () => {
      env.outbound.remove(rule);
      if (held) {
        const release = [...held];
        held.clear();
        for (const send of release) send();
      }
    },
  };
}

/** Fields every outbound kind takes besides its own: which upstream and which requests. */
const OUTBOUND_FIELDS = ['target', ...MATCH_FIELDS] as const;

interface OutboundSpec {
  target: string | undefined;
  match: RequestMatch;
}
function readOutbound(r: SpecReader): OutboundSpec {
  return { target: r.optionalString('target'), match: readMatch(r) };
}

/** NetworkChaos delay, outbound: hold calls to an upstream. */
export const netDelay: FaultDriver<OutboundSpec & ReturnType<typeof readDelay>> = {
  kind: 'net-delay',
  seeded: true,
  description: 'delay outgoing calls (latencyMs, jitterMs, correlation %, target, path, method, percent)',
  parse(spec) {
    const r = new SpecReader('net-delay', spec);
    r.only('latencyMs', 'jitterMs', 'correlation', ...OUTBOUND_FIELDS);
    return { ...readDelay(r), ...readOutbound(r) };
  },
  apply(spec, env, faultId) {
    const random = spec.match.seed === undefined ? Math.random : seededRandom(spec.match.seed + 1);
    const next = delaySampler(spec.latencyMs, spec.jitterMs, spec.correlation, random);
    const meter = callMeter('delayed', spec.target);
    const applied = (ms: number): void => meter.delayed(ms);
    return outbound(env, faultId, spec.target, spec.match, () => ({ type: 'delay', ms: next(), applied }), meter);
  },
};

/** Answer outgoing calls with an error status, without sending them. */
export const netError: FaultDriver<OutboundSpec & { status: number }> = {
  kind: 'net-error',
  seeded: true,
  description: 'answer outgoing calls with an error status (status, target, path, method, percent)',
  parse(spec) {
    const r = new SpecReader('net-error', spec);
    r.only('status', ...OUTBOUND_FIELDS);
    return { status: r.number('status', { min: 400, max: 599, integer: true, default: 503 }), ...readOutbound(r) };
  },
  apply: (spec, env, faultId) =>
    outbound(
      env,
      faultId,
      spec.target,
      spec.match,
      () => ({ type: 'error', status: spec.status }),
      callMeter(`failed with ${spec.status}`, spec.target),
    ),
};

/** NetworkChaos loss, as seen by a client: the connection is reset. */
export const netReset: FaultDriver<OutboundSpec> = {
  kind: 'net-reset',
  seeded: true,
  description: 'fail outgoing calls with a connection reset (target, path, method, percent)',
  parse(spec) {
    const r = new SpecReader('net-reset', spec);
    r.only(...OUTBOUND_FIELDS);
    return readOutbound(r);
  },
  apply: (spec, env, faultId) =>
    outbound(env, faultId, spec.target, spec.match, () => ({ type: 'reset' }), callMeter('reset', spec.target)),
};

/**
 * NetworkChaos partition towards a named upstream. `mode: 'hang'` (default) behaves like dropped packets:
 * calls wait until the caller's own timeout, which is what a real partition does and what exercises timeouts
 * and breakers; when the partition heals, held calls are sent. `mode: 'fail'` refuses at once (ECONNREFUSED),
 * like an iptables REJECT.
 */
export const netPartition: FaultDriver<{ target: string; mode: 'hang' | 'fail' }> = {
  kind: 'net-partition',
  description: 'cut outgoing calls to a target (target, mode: hang | fail)',
  parse(spec) {
    const r = new SpecReader('net-partition', spec);
    r.only('target', 'mode');
    return {
      target: r.string('target'),
      mode: r.string('mode', { default: 'hang', oneOf: ['hang', 'fail'] }) as 'hang' | 'fail',
    };
  },
  apply: (spec, env, faultId) =>
    outbound(
      env,
      faultId,
      spec.target,
      { percent: 100 },
      () => ({ type: 'partition', mode: spec.mode }),
      callMeter(spec.mode === 'hang' ? 'held (partition)' : 'refused (partition)', spec.target),
      new Set(),
    ),
};

/** NetworkChaos bandwidth: response bodies of calls to the target arrive at most this fast. */
export const netBandwidth: FaultDriver<OutboundSpec & { bytesPerSecond: number }> = {
  kind: 'net-bandwidth',
  seeded: true,
  description: 'limit the body rate of outgoing calls (bytesPerSecond, target)',
  parse(spec) {
    const r = new SpecReader('net-bandwidth', spec);
    r.only('bytesPerSecond', ...OUTBOUND_FIELDS);
    return { bytesPerSecond: r.number('bytesPerSecond', { min: 1 }), ...readOutbound(r) };
  },
  apply: (spec, env, faultId) =>
    outbound(
      env,
      faultId,
      spec.target,
      spec.match,
      () => ({ type: 'bandwidth', bytesPerSecond: spec.bytesPerSecond }),
      callMeter('throttled', spec.target),
    ),
};

/**
 * NetworkChaos duplicate, in-process: a matching call is sent twice and the caller gets the second answer.
 * The kernel's duplicate copies packets, which TCP discards as already received; at the request layer the
 * faithful meaning is a duplicated request, as a retrying proxy or client sends: the server sees it twice,
 * which tests idempotency. Calls with a streamed body cannot be sent twice: they are not matched.
 */
export const netDuplicate: FaultDriver<OutboundSpec> = {
  kind: 'net-duplicate',
  seeded: true,
  description: 'send outgoing calls twice (target, percent, path, method): duplicated requests',
  parse(spec) {
    const r = new SpecReader('net-duplicate', spec);
    r.only(...OUTBOUND_FIELDS);
    return readOutbound(r);
  },
  apply(spec, env, faultId) {
    const meter = callMeter('duplicated', spec.target);
    const matches = compileMatch(spec.match);
    return outbound(
      env,
      faultId,
      spec.target,
      spec.match,
      () => ({ type: 'duplicate' }),
      meter,
      undefined,
      (facts) => facts.replayable !== false && matches(facts),
    );
  },
};

/**
 * NetworkChaos corrupt, in-process: one bit of a matching call's response body is flipped (the kernel's
 * corrupt flips bits in packets, which TCP's checksum then mostly drops; here the corruption reaches the
 * caller, as it does past TLS-less proxies). Evidence: responses whose bytes were actually changed.
 */
export const netCorrupt: FaultDriver<OutboundSpec> = {
  kind: 'net-corrupt',
  seeded: true,
  description: 'flip a bit in the response body of outgoing calls (target, percent, path, method)',
  parse(spec) {
    const r = new SpecReader('net-corrupt', spec);
    r.only(...OUTBOUND_FIELDS);
    return readOutbound(r);
  },
  apply(spec, env, faultId) {
    const meter = callMeter('corrupted the answer to', spec.target);
    const random = spec.match.seed === undefined ? Math.random : seededRandom(spec.match.seed + 1);
    let changed = 0;
    const corrupted = (): void => void changed++;
    const injection = outbound(
      env,
      faultId,
      spec.target,
      spec.match,
      () => ({ type: 'corrupt', at: random(), bit: Math.floor(random() * 8), corrupted }),
      meter,
    );
    return {
      recover: injection.recover,
      effect: () => {
        const e = meter.effect();
        return {
          ...e,
          took: changed > 0,
          summary: `${e.summary} (${changed} bodies changed)`,
          figures: { ...e.figures, bodiesChanged: changed },
        };
      },
    };
  },
};
