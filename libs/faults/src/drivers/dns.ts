import dns from 'node:dns';
import { seededRandom } from '@nova/chaos-spec';
import { RequestMeter } from '../effect.ts';
import { FaultSpecError } from '../errors.ts';
import type { OutboundFacts, OutboundRule } from '../rules.ts';
import { SpecReader } from '../spec.ts';
import type { FaultDriver } from './driver.ts';

/** What a matching name resolves to: an error (NXDOMAIN-like `ENOTFOUND`) or a random address. */
export type DnsAction = 'error' | 'random';

interface DnsSpec {
  action: DnsAction;
  /** Chaos Mesh domain templates; empty means every name. */
  patterns: string[];
  seed?: number;
}

/**
 * A Chaos Mesh DNSChaos domain template as a matcher: `?` is one character, a trailing `*` any suffix
 * (chaos-mesh api/v1alpha1/dnschaos_webhook.go accepts `*` only as the last character). Case-insensitive,
 * a trailing dot ignored, as DNS names are.
 */
export function dnsPattern(pattern: string): (name: string) => boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const star = p.endsWith('*');
  const body = (star ? p.slice(0, -1) : p).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\?/g, '.');
  const re = new RegExp(`^${body}${star ? '.*' : ''}$`);
  return (name) => re.test(name.toLowerCase().replace(/\.$/, ''));
}

/**
 * A random loopback address, never 127.0.0.x (where this machine's services listen): a "random answer"
 * that cannot send a byte off the machine. Chaos Mesh answers with any address; ours must stay local.
 */
function randomLoopback(random: () => number): string {
  const octet = (): number => Math.floor(random() * 254) + 1;
  return `127.${octet()}.${octet()}.${octet()}`;
}

/** One active DNS fault as the lookup patch sees it. */
interface ActiveDns {
  matches(name: string): boolean;
  answer(name: string): { error: NodeJS.ErrnoException } | { address: string };
}

const active = new Set<ActiveDns>();
const realLookup = dns.lookup;
const realPromisesLookup = dns.promises.lookup;

function decide(hostname: string): ReturnType<ActiveDns['answer']> | undefined {
  for (const a of active) if (a.matches(hostname)) return a.answer(hostname);
  return undefined;
}

type LookupOptions = { all?: boolean; family?: number | string } | number | undefined;
const wantsAll = (options: LookupOptions): boolean =>
  typeof options === 'object' && options !== null && options.all === true;

// `net.connect` (and so undici and every HTTP client) resolves through `dns.lookup`, read from the module
// object at each call: patching it here reaches every connection this process makes by name.
function patchedLookup(this: unknown, hostname: string, ...rest: unknown[]): void {
  const answer = typeof hostname === 'string' ? decide(hostname) : undefined;
  if (!answer) return (realLookup as (...a: unknown[]) => void).call(this, hostname, ...rest);
  const callback = rest[rest.length - 1] as (err: Error | null, address?: unknown, family?: number) => void;
  const options = rest.length > 1 ? (rest[0] as LookupOptions) : undefined;
  process.nextTick(() => {
    if ('error' in answer) return callback(answer.error);
    if (wantsAll(options)) return callback(null, [{ address: answer.address, family: 4 }]);
    callback(null, answer.address, 4);
  });
}

async function patchedPromisesLookup(hostname: string, options?: LookupOptions): Promise<unknown> {
  const answer = decide(hostname);
  if (!answer) return (realPromisesLookup as (h: string, o?: unknown) => Promise<unknown>)(hostname, options);
  if ('error' in answer) throw answer.error;
  return wantsAll(options) ? [{ address: answer.address, family: 4 }] : { address: answer.address, family: 4 };
}

function start(a: ActiveDns): () => void {
  if (active.size === 0) {
    dns.lookup = patchedLookup as typeof dns.lookup;
    dns.promises.lookup = patchedPromisesLookup as typeof dns.promises.lookup;
  }
  active.add(a);
  return () => {
    if (!active.delete(a) || active.size > 0) return;
    if (dns.lookup === (patchedLookup as unknown)) dns.lookup = realLookup;
    if (dns.promises.lookup === (patchedPromisesLookup as unknown)) dns.promises.lookup = realPromisesLookup;
  };
}

const notFound = (name: string, faultId: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`getaddrinfo ENOTFOUND ${name} (injected fault ${faultId})`), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname: name,
  });

const IP_LITERAL = /^(\d+\.){3}\d+$|:/;

/**
 * The names an outgoing call resolves: its upstream's service name (what a Kubernetes client resolves
 * through the cluster DNS; locally the address is configured, so the name stands for that lookup) and the
 * origin's host when it is a name rather than an address.
 */
function namesOf(facts: OutboundFacts): string[] {
  const host = facts.origin
    .replace(/^https?:\/\//, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  return [...(facts.upstream ? [facts.upstream] : []), ...(IP_LITERAL.test(host) ? [] : [host])];
}

/**
 * DNSChaos: names matching the patterns fail to resolve (`error`) or resolve to a random address
 * (`random`, a loopback one here), both in `dns.lookup` (every connection by name) and for calls to a named
 * upstream. Other names resolve as before. The evidence: lookups and calls seen, and those answered wrong.
 */
export const dnsFault: FaultDriver<DnsSpec> = {
  kind: 'dns-fault',
  seeded: true,
  description: 'wrong answers to name lookups in this process (action: error | random, patterns: domain templates)',
  parse(spec) {
    const r = new SpecReader('dns-fault', spec);
    r.only('action', 'patterns', 'seed');
    const patterns = r.strings('patterns') ?? [];
    for (const [i, p] of patterns.entries()) {
      if (p === '' || p.slice(0, -1).includes('*')) {
        throw new FaultSpecError(
          'dns-fault',
          `patterns[${i}]`,
          `"${p}" is not a domain template: "?" matches one character, "*" only at the end`,
        );
      }
    }
    const seed = r.number('seed', { default: -1, integer: true, min: -1 });
    return {
      action: r.string('action', { oneOf: ['error', 'random'] }) as DnsAction,
      patterns,
      ...(seed >= 0 ? { seed } : {}),
    };
  },
  apply(spec, env, faultId) {
    const matchers = spec.patterns.map(dnsPattern);
    const matches = (name: string): boolean => matchers.length === 0 || matchers.some((m) => m(name));
    const random = spec.seed === undefined ? Math.random : seededRandom(spec.seed);
    const meter = new RequestMeter(
      spec.action === 'error' ? 'failed to resolve' : 'resolved to a random address',
      'name lookups and calls by name',
    );
    const answer = (name: string): { error: NodeJS.ErrnoException } | { address: string } =>
      spec.action === 'error' ? { error: notFound(name, faultId) } : { address: randomLoopback(random) };
    const stop = start({
      matches: meter.counting(matches),
      answer: (name) => {
        meter.affected++;
        meter.decided(true);
        return answer(name);
      },
    });
    let matchedName = '';
    const rule: OutboundRule = {
      faultId,
      matches: meter.counting((facts: OutboundFacts) => {
        const name = namesOf(facts).find(matches);
        if (name) matchedName = name;
        return name !== undefined;
      }),
      effect: meter.acting(() => {
        const a = answer(matchedName);
        return { type: 'dns', action: spec.action, name: matchedName, address: 'address' in a ? a.address : '' };
      }),
    };
    env.outbound.add(rule);
    return {
      recover: () => {
        env.outbound.remove(rule);
        stop();
      },
      effect: () => meter.effect(),
    };
  },
};
