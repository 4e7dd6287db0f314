import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';

/** Parses htpasswd content: `user:$2y$...` bcrypt lines (others are refused with a message). */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    const hash = line.slice(at + 1);
    if (at <= 0 || !/^\$2[aby]\$\d\d\$/.test(hash))
      throw new Error(`htpasswd line ${i + 1}: expected user:bcrypt-hash (htpasswd -B)`);
    users.set(line.slice(0, at), hash);
  }
  return users;
}

/** Who made a request, as we verified it. */
export interface Principal {
  /** The dashboard user, or `api-token` (and what the caller says it acts for, marked as a claim). */
  actor: string;
  /** Authenticated with Basic (a browser sends it by itself: mutations need the CSRF proof). */
  basic: boolean;
}

/** The answer to a request's credentials. */
export type AuthResult = { ok: true; principal: Principal } | { ok: false; retryAfterS?: number };

/** Options of {@link ApiAuth}. */
export interface ApiAuthOptions {
  token: string;
  /** Dashboard users: name → bcrypt hash. */
  users: Map<string, string>;
  /** Failed attempts an address may make per window before it is refused outright (429). Default 10. */
  maxFailures?: number;
  /** The window of {@link maxFailures}, in ms. Default 10 000. */
  windowMs?: number;
  /** bcrypt checks running at once; more are refused (429) so they cannot starve the event loop. Default 2. */
  maxConcurrentChecks?: number;
}

const MAX_TRACKED = 10_000;

/**
 * Bearer token or Basic (htpasswd, bcrypt). Hardened against what a probe found: an unknown user costs a bcrypt
 * check like a known one (no timing oracle for user names); failed attempts are counted per address and an
 * address over its budget is refused at once; at most a few bcrypt checks run at a time (each is ~80 ms of CPU on
 * the event loop); a verified pair is remembered by its hash, so a user's later requests cost no bcrypt.
 */
export class ApiAuth {
  private readonly expected: Buffer;
  private readonly verified = new Set<string>();
  /** Checks in progress by credential hash: a page's parallel requests with one password share one check. */
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private checking = 0;
  /** A hash of the users' cost that matches no password: the work done for a user who does not exist. */
  private readonly decoy: string;

  constructor(private readonly options: ApiAuthOptions) {
    this.expected = Buffer.from(`Bearer ${options.token}`);
    const sample = options.users.values().next().value as string | undefined;
    this.decoy = sample ? `${sample.slice(0, 7)}${'.'.repeat(53)}` : '$2b$10$' + '.'.repeat(53);
  }

  /** Checks a request's `Authorization` header (Bearer token or Basic). */
  authenticate(req: IncomingMessage, now = Date.now()): Promise<AuthResult> {
    // No credentials is not a guess: it does not spend the address's failure budget (a logged-out page that
    // polls would lock its user out); anonymous requests have their own rate limit in the server.
    if (!req.headers.authorization) return Promise.resolve({ ok: false });
    return this.limited(req.socket.remoteAddress ?? 'unknown', now, () => this.checkHeader(req));
  }

  /**
   * Checks a login form's credentials (a dashboard user's password, or the token), with the same limits and
   * failure counting as a header: a login is a credential check like any other.
   */
  login(
    address: string,
    credentials: { username?: string; password?: string; token?: string },
    now = Date.now(),
  ): Promise<AuthResult> {
    return this.limited(address, now, async () => {
      if (credentials.token !== undefined) return this.checkToken(`Bearer ${credentials.token}`, undefined);
      return this.checkPassword(credentials.username ?? '', credentials.password ?? '');
    });
  }

  private async limited(address: string, now: number, check: () => Promise<AuthResult>): Promise<AuthResult> {
    const record = this.failures.get(address);
    const windowMs = this.options.windowMs ?? 10_000;
    if (record && now - record.since < windowMs && record.count >= (this.options.maxFailures ?? 10)) {
      return { ok: false, retryAfterS: Math.ceil((record.since + windowMs - now) / 1000) };
    }
    const result = await check();
    if (!result.ok && result.retryAfterS === undefined) this.fail(address, now, windowMs);
    return result;
  }

  private async checkHeader(req: IncomingMessage): Promise<AuthResult> {
    const header = req.headers.authorization ?? '';
    const claim = req.headers['x-chaos-actor'];
    const token = this.checkToken(header, typeof claim === 'string' ? claim : undefined);
    if (token.ok || !header.startsWith('Basic ')) return token;
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const at = decoded.indexOf(':');
    return this.checkPassword(at > 0 ? decoded.slice(0, at) : '', decoded.slice(at + 1));
  }

  private checkToken(header: string, claim: string | undefined): AuthResult {
    const got = Buffer.from(header);
    if (got.length !== this.expected.length || !timingSafeEqual(got, this.expected)) return { ok: false };
    // The caller may say whom it acts for: recorded as its claim, beside who it proved to be.
    return {
      ok: true,
      principal: { actor: claim ? `api-token (as ${claim.slice(0, 64)})` : 'api-token', basic: false },
    };
  }

  private async checkPassword(user: string, password: string): Promise<AuthResult> {
    const key = createHash('sha256').update(`${user}:${password}`).digest('hex');
    if (this.verified.has(key) && this.options.users.has(user))
      return { ok: true, principal: { actor: user, basic: true } };
    let check = this.pending.get(key);
    if (!check) {
      if (this.checking >= (this.options.maxConcurrentChecks ?? 2)) return { ok: false, retryAfterS: 1 };
      this.checking++;
      // An unknown user is checked against the decoy: the same work, so the answer's timing says nothing.
      const hash = this.options.users.get(user) ?? this.decoy;
      check = bcrypt
        .compare(password, hash)
        .then((match) => match && this.options.users.has(user))
        .finally(() => {
          this.checking--;
          this.pending.delete(key);
        });
      this.pending.set(key, check);
    }
    if (!(await check)) return { ok: false };
    this.verified.add(key);
    return { ok: true, principal: { actor: user, basic: true } };
  }

  private fail(address: string, now: number, windowMs: number): void {
    const r = this.failures.get(address);
    if (r && now - r.since < windowMs) r.count++;
    else this.failures.set(address, { count: 1, since: now });
    if (this.failures.size > MAX_TRACKED) {
      for (const [a, x] of this.failures) if (now - x.since >= windowMs) this.failures.delete(a);
    }
  }
}
