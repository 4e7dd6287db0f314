import { randomUUID } from 'node:crypto';
import { createHttpClient, type HttpClient } from '@nova/resilience';
import { Agent } from 'undici';

/**
 * Errors that mean the replica could not be reached at all (nothing was sent): refused, or — for a container
 * that is gone, whose address no longer answers — unreachable or not connected within the connect timeout.
 */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** One request of the load: when, which journey, how long, and whether the user saw it succeed. */
export interface Sample {
  /** ms since the run started */
  at: number;
  journey: string;
  latencyMs: number;
  ok: boolean;
  status: number | string;
}

/** The service URLs the load targets (replicas behind a client-side balancer, like a k8s Service). */
export interface LoadTargets {
  user: string[];
  auth: string[];
  messaging: string[];
}

/**
 * Where the load's targets come from: fixed, or read again before each request, because a replica can move
 * mid-run (Docker gives a restarted container another address).
 */
export type TargetsSource = LoadTargets | (() => LoadTargets);

/**
 * The targets of an environment, read from it at each call: what `chaos run`, `chaos up` and the tests give
 * the load, so that a replica that moved is followed.
 */
export function liveTargets(env: { urls(service: keyof LoadTargets): string[] }): () => LoadTargets {
  return () => ({ user: env.urls('user'), auth: env.urls('auth'), messaging: env.urls('messaging') });
}

/** The targets of `source` now. */
export function targetsOf(source: TargetsSource): LoadTargets {
  return typeof source === 'function' ? source() : source;
}

/** What the harness needs from a load source: the samples so far, on its clock. */
export interface LoadSource {
  readonly samples: Sample[];
  /** ms since the load source was created */
  now(): number;
  prepare(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
  /**
   * Sends this budget (ms, `x-request-deadline-ms`) with every request from now on, or none with `undefined`.
   * Absent when the source cannot change its requests mid-run (k6).
   */
  setRequestDeadline?(ms: number | undefined): void;
  /**
   * Adds `ratePerSecond` more requests of one journey on top of the steady load from now on (a surge), or
   * ends the surge with `undefined`. Absent when the source cannot change its rate mid-run (k6).
   */
  setSurge?(surge: Surge | undefined): void;
}

/** The journeys of the built-in load, in the order the steady load cycles through them. */
export const JOURNEYS = ['read-profile', 'login', 'send-message', 'read-conversation'] as const;
/** One of {@link JOURNEYS}. */
export type Journey = (typeof JOURNEYS)[number];

/** Extra requests of one journey during an experiment's fault (`nova.dev/load-surge`). */
export interface Surge {
  journey: Journey;
  /** Requests per second added to the steady load. */
  ratePerSecond: number;
}

/**
 * The built-in load generator: the user journeys (read a profile, log in, send a message, read the
 * conversation) at a fixed total rate, on undici. Each service is reached through a balancer over its
 * replicas that skips a replica refusing connections, as a Service with health checks would; nothing else
 * is retried, so what the services get wrong is counted. Bounded: `stop()` ends it, at most `maxInFlight`.
 */
export class LoadGenerator implements LoadSource {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private surgeTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  /** In flight for the surge, bounded apart: a surge's stuck requests must not stop the steady users' ones. */
  private surgeInFlight = 0;
  private seq = 0;
  /** Position in {@link JOURNEYS} of the steady load (a surge does not move it). */
  private cycle = 0;
  /** Each service's balancer and the URLs it was built over (joined), rebuilt when those change. */
  private readonly clients: Record<keyof LoadTargets, { urls: string; client: HttpClient }>;
  /** Balancers replaced mid-run: calls already on them finish there; they are closed at {@link stop}. */
  private readonly retired: HttpClient[] = [];
  /** The accounts the journeys use (after {@link prepare}); their password is `load-password`. */
  accounts: Array<{ id: string; email: string; token: string; password: string }> = [];
  private readonly started = Date.now();
  /** Replicas answer within a millisecond when up; a gone container's address is given up after 1 s. */
  private readonly dispatcher = new Agent({ connect: { timeout: 1_000 } });
  /** The budget header of the current experiment's requests (none by default). */
  private budget: Record<string, string> = {};

  constructor(
    private readonly targets: TargetsSource,
    private readonly options: { ratePerSecond: number; maxInFlight?: number; timeoutMs?: number },
  ) {
    const now = targetsOf(targets);
    const built = (service: keyof LoadTargets) => ({
      urls: now[service].join(' '),
      client: this.balancer(service, now[service]),
    });
    this.clients = { user: built('user'), auth: built('auth'), messaging: built('messaging') };
  }

  /** A balancer over one service's replicas that moves on from one it cannot reach, as a Service would. */
  private balancer(service: keyof LoadTargets, urls: string[]): HttpClient {
    return createHttpClient({
      baseUrls: urls,
      name: `${service}-service`,
      timeoutMs: this.options.timeoutMs ?? 5_000,
      dispatcher: this.dispatcher,
      // A balancer moves on from a replica it cannot reach (or whose connection dropped); it retries nothing else.
      retry: {
        maxAttempts: 2,
        backoff: { delay: () => 0 },
        shouldRetry: (e) => {
          const code = String((e as { code?: string }).code);
          return UNREACHABLE.has(code) || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
        },
      },
      breaker: {
        minimumVolume: 3,
        resetTimeoutMs: 1_000,
        failureRateThreshold: 50,
        isFailure: (e) => UNREACHABLE.has(String((e as { code?: string }).code)),
      },
    });
  }

  /** The balancer of `service` over its replicas' current URLs (a moved replica is followed, not given up). */
  private client(service: keyof LoadTargets): HttpClient {
    const urls = targetsOf(this.targets)[service];
    const current = this.clients[service];
    const joined = urls.join(' ');
    // No replica listed (a moment between two states of the environment): keep the balancer there is.
    if (joined === current.urls || urls.length === 0) return current.client;
    this.retired.push(current.client);
    const next = { urls: joined, client: this.balancer(service, urls) };
    this.clients[service] = next;
    return next.client;
  }

  /** ms since the generator was created. */
  now(): number {
    return Date.now() - this.started;
  }

  /** Creates the accounts the journeys use and logs them in. */
  async prepare(accounts = 4): Promise<void> {
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < accounts; i++) {
      const email = `load-${run}-${i}@example.com`;
      const created = await this.client('user').post('/users', { email, name: `Load ${i}`, password: 'load-password' });
      if (created.statusCode !== 201)
        throw new Error(`load setup: creating ${email} answered ${created.statusCode}: ${created.body}`);
      const login = await this.client('auth').post(
        '/auth/login',
        { email, password: 'load-password' },
        { idempotent: true },
      );
      if (login.statusCode !== 200)
        throw new Error(`load setup: login of ${email} answered ${login.statusCode}: ${login.body}`);
      this.accounts.push({
        id: created.json<{ id: string }>().id,
        email,
        token: login.json<{ token: string }>().token,
        password: 'load-password',
      });
    }
    // Let messaging see every recipient once, as a real service would have before an incident.
    for (const a of this.accounts)
      for (const b of this.accounts)
        if (a !== b)
          await this.client('messaging').post(
            '/messages',
            { to: b.id, text: 'hello' },
            { headers: { authorization: `Bearer ${a.token}` } },
          );
  }

  /**
   * Sends a budget with every request (the services' deadlines plugin reads it). Only the header: the
   * generator's own timeout stays, so a service that overran the budget shows in the latencies.
   */
  setRequestDeadline(ms: number | undefined): void {
    this.budget = ms === undefined ? {} : { 'x-request-deadline-ms': String(ms) };
  }

  start(): void {
    const interval = 1000 / this.options.ratePerSecond;
    this.timer = setInterval(() => this.send(JOURNEYS[this.cycle++ % JOURNEYS.length]!, false), interval);
  }

  setSurge(surge: Surge | undefined): void {
    clearInterval(this.surgeTimer);
    this.surgeTimer = undefined;
    if (surge !== undefined && surge.ratePerSecond > 0)
      this.surgeTimer = setInterval(() => this.send(surge.journey, true), 1000 / surge.ratePerSecond);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.surgeTimer);
    while (this.inFlight + this.surgeInFlight > 0) await new Promise((r) => setTimeout(r, 20));
    for (const c of [...Object.values(this.clients).map((c) => c.client), ...this.retired.splice(0)]) c.close();
    await this.dispatcher.close();
  }

  /**
   * Sends one request of `journey`, or records it as not sent when `maxInFlight` requests are out (the steady
   * load and a surge each have that bound, as two populations of users would).
   */
  private send(journey: Journey, surge: boolean): void {
    if ((surge ? this.surgeInFlight : this.inFlight) >= (this.options.maxInFlight ?? 64)) {
      this.samples.push({ at: this.now(), journey, latencyMs: 0, ok: false, status: 'load-generator-saturated' });
      return;
    }
    void this.fire(journey, surge);
  }

  private async fire(journey: Journey, surge: boolean): Promise<void> {
    const n = this.seq++;
    const me = this.accounts[n % this.accounts.length]!;
    const other = this.accounts[(n + 1) % this.accounts.length]!;
    const budget = this.budget;
    const auth = { authorization: `Bearer ${me.token}`, ...budget };
    const calls: Record<Journey, () => Promise<{ statusCode: number }>> = {
      'read-profile': () => this.client('user').get(`/users/${other.id}`, { headers: budget }),
      login: () =>
        this.client('auth').post(
          '/auth/login',
          { email: me.email, password: 'load-password' },
          { idempotent: true, headers: budget },
        ),
      'send-message': () =>
        this.client('messaging').post('/messages', { to: other.id, text: `message ${n}` }, { headers: auth }),
      'read-conversation': () => this.client('messaging').get(`/messages?with=${other.id}&limit=20`, { headers: auth }),
    };
    const call = calls[journey];
    const at = this.now();
    const t = performance.now();
    if (surge) this.surgeInFlight++;
    else this.inFlight++;
    try {
      const res = await call();
      this.samples.push({
        at,
        journey,
        latencyMs: performance.now() - t,
        ok: res.statusCode < 400,
        status: res.statusCode,
      });
    } catch (error) {
      const e = error as { statusCode?: number; code?: string };
      this.samples.push({
        at,
        journey,
        latencyMs: performance.now() - t,
        ok: false,
        status: e.statusCode ?? e.code ?? 'error',
      });
    } finally {
      if (surge) this.surgeInFlight--;
      else this.inFlight--;
    }
  }
}

/** p-th percentile of values (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Error rate, p50 and p99 of the samples started in [from, to). */
export function window(
  samples: readonly Sample[],
  from: number,
  to: number,
): { count: number; errorRate: number; p50: number; p99: number; errorsBy: Map<string, number> } {
  const s = samples.filter((x) => x.at >= from && x.at < to);
  const failed = s.filter((x) => !x.ok);
  // "journey status" → count: which calls failed and how, so a failed error-rate check says why.
  const errorsBy = new Map<string, number>();
  for (const x of failed) errorsBy.set(`${x.journey} ${x.status}`, (errorsBy.get(`${x.journey} ${x.status}`) ?? 0) + 1);
  const lat = s.map((x) => x.latencyMs);
  return {
    count: s.length,
    errorRate: s.length ? failed.length / s.length : 0,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    errorsBy,
  };
}
