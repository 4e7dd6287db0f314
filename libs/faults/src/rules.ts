import type { HttpRewrite } from './http-rewrite.ts';
import type { RequestFacts } from './match.ts';

/** What an inbound fault does to a request it matches. */
export type InboundEffect =
  /** `applied` is told the delay actually added (timer to callback, ms): the fault's effect evidence. */
  | { type: 'delay'; ms: number; applied?: (ms: number) => void }
  | { type: 'abort' }
  | { type: 'error'; status: number; body: string }
  /** HTTPChaos replace/patch; `applied` is told each time a request or response was actually rewritten. */
  | { type: 'rewrite'; rewrite: HttpRewrite; applied: () => void };

/** An active inbound fault, consulted by the fastify plugin. */
export interface InboundRule {
  readonly faultId: string;
  /**
   * `rewrite` rules are consulted before the server routes the request (a rewritten path or method reaches
   * another route); the others when the route's hooks run.
   */
  readonly stage?: 'rewrite';
  matches(facts: RequestFacts): boolean;
  effect(): InboundEffect;
}

/** What the interceptor knows about an outgoing request. */
export interface OutboundFacts extends RequestFacts {
  /** The upstream's name, when the dispatcher was created for a named upstream. */
  upstream: string | undefined;
  /** `http://host:port` */
  origin: string;
  /** The body can be sent twice (none, a string or bytes; not a stream): what duplication needs. */
  replayable?: boolean;
}

/** What an outbound fault does to a request it matches. */
export type OutboundEffect =
  | { type: 'delay'; ms: number; applied?: (ms: number) => void }
  | { type: 'error'; status: number }
  | { type: 'reset' }
  | { type: 'partition'; mode: 'hang' | 'fail' }
  | { type: 'bandwidth'; bytesPerSecond: number }
  /** The upstream's name did not resolve (`error`), or resolved to `address` (`random`). */
  | { type: 'dns'; action: 'error' | 'random'; name: string; address: string }
  /** The call is sent twice; the caller sees the second answer. `sent` is told when the copy went out. */
  | { type: 'duplicate'; sent?: () => void }
  /**
   * One bit of the response body is flipped: in byte `at × length` of the first non-empty chunk, bit `bit`.
   * `corrupted` is told when a byte was changed (a response without a body has nothing to corrupt).
   */
  | { type: 'corrupt'; at: number; bit: number; corrupted?: () => void };

/** An active outbound fault, consulted by the undici interceptor. */
export interface OutboundRule {
  readonly faultId: string;
  matches(facts: OutboundFacts): boolean;
  effect(): OutboundEffect;
  /** Partition only: requests held while the partition lasts, released (sent) when it heals. */
  readonly held?: Set<() => void>;
}

/** A copy-on-write list: readers iterate a stable array, and an empty list costs one length check. */
export class RuleList<R> {
  private items: readonly R[] = [];
  get rules(): readonly R[] {
    return this.items;
  }
  add(rule: R): void {
    this.items = [...this.items, rule];
  }
  remove(rule: R): void {
    this.items = this.items.filter((r) => r !== rule);
  }
}

/** Does a target spec (`user-service` or `127.0.0.1:3001`) name this outgoing request's upstream? */
export function targetMatches(target: string | undefined, facts: OutboundFacts): boolean {
  if (target === undefined) return true;
  if (facts.upstream === target) return true;
  return facts.origin.replace(/^https?:\/\//, '') === target;
}
