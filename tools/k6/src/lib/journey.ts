// One step of the user journeys, shared by the fault scenario and the harness's load script.
import { check } from 'k6';
import http from 'k6/http';
import { Trend } from 'k6/metrics';

export interface Account {
  id: string;
  email: string;
  token: string;
  /** Default k6-password (the accounts the k6 scenario creates). */
  password?: string;
}
/** Each service's replicas (a comma-separated env var becomes a list). */
export interface Urls {
  user: string[];
  auth: string[];
  messaging: string[];
}

/** Splits `a,b` into replicas. */
export function replicas(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Sends to the replicas round-robin and, like a Service in front of them, moves on once from a replica that
 * refuses the connection (status 0); nothing else is retried.
 */
function balanced(
  list: string[],
  n: number,
  send: (base: string) => ReturnType<typeof http.get>,
): ReturnType<typeof http.get> {
  const first = send(list[n % list.length]!);
  if (first.status !== 0 || list.length < 2) return first;
  return send(list[(n + 1) % list.length]!);
}
export const JOURNEYS = ['read-profile', 'login', 'send-message', 'read-conversation'] as const;

/**
 * What the user saw of one journey step: its time including a failover to another replica, tagged with
 * `journey`, `ok` and `status`. The harness reads this metric (`--load k6`), not the per-attempt
 * http_req_duration, so a failed first attempt that a failover answered counts once, as the user saw it.
 */
const journeyDuration = new Trend('journey_duration', true);
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Runs journey number `n` (round-robin over the four) as `accounts[n]`, tagging the request with `extraTags`. */
export function journeyStep(urls: Urls, accounts: Account[], n: number, extraTags: Record<string, string> = {}): void {
  const me = accounts[n % accounts.length]!;
  const other = accounts[(n + 1) % accounts.length]!;
  const journey = JOURNEYS[n % JOURNEYS.length]!;
  const tags = { ...extraTags, journey };
  const auth = { ...JSON_HEADERS, authorization: `Bearer ${me.token}` };
  const started = Date.now();
  let res;
  if (journey === 'read-profile') res = balanced(urls.user, n, (u) => http.get(`${u}/users/${other.id}`, { tags }));
  else if (journey === 'login')
    res = balanced(urls.auth, n, (u) =>
      http.post(`${u}/auth/login`, JSON.stringify({ email: me.email, password: me.password ?? 'k6-password' }), {
        headers: JSON_HEADERS,
        tags,
      }),
    );
  else if (journey === 'send-message')
    res = balanced(urls.messaging, n, (u) =>
      http.post(`${u}/messages`, JSON.stringify({ to: other.id, text: `k6 ${n}` }), { headers: auth, tags }),
    );
  else
    res = balanced(urls.messaging, n, (u) =>
      http.get(`${u}/messages?with=${other.id}&limit=20`, { headers: auth, tags }),
    );
  const ok = res.status >= 200 && res.status < 400;
  journeyDuration.add(Date.now() - started, { ...tags, ok: String(ok), status: String(res.status) });
  check(res, { 'answered 2xx': (r) => r.status >= 200 && r.status < 300 }, tags);
}
