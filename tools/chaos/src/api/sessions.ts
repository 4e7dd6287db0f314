import { createHash, randomBytes } from 'node:crypto';

/** The cookie that carries a dashboard session. */
export const SESSION_COOKIE = 'nova_session';

/** Options of {@link SessionStore}. */
export interface SessionOptions {
  /** A session unused this long ends, in ms. Default 30 minutes. */
  idleMs?: number;
  /** A session ends this long after login whatever its use, in ms. Default 8 hours. */
  maxAgeMs?: number;
  /** Sessions kept at most; the least recently used goes first. Default 1 000. */
  maxSessions?: number;
}

interface Session {
  actor: string;
  createdAt: number;
  lastSeen: number;
}

/**
 * Dashboard sessions after a login with a password or the token: a random 256-bit id in an HttpOnly,
 * SameSite=Strict cookie, stored here only as its SHA-256 (a leaked memory dump or log holds no usable id).
 * A session ends at logout, after {@link SessionOptions.idleMs} unused or {@link SessionOptions.maxAgeMs} after
 * login. Time is passed in (ms since the epoch) so tests need no clock.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  readonly idleMs: number;
  readonly maxAgeMs: number;
  private readonly maxSessions: number;

  constructor(options: SessionOptions = {}) {
    this.idleMs = options.idleMs ?? 30 * 60_000;
    this.maxAgeMs = options.maxAgeMs ?? 8 * 3_600_000;
    this.maxSessions = options.maxSessions ?? 1_000;
  }

  /** Opens a session for `actor`; returns the id for the cookie (the only copy of it). */
  create(actor: string, now: number): string {
    const id = randomBytes(32).toString('base64url');
    if (this.sessions.size >= this.maxSessions) {
      // Map order is insertion order and touch() re-inserts: the first key is the least recently used.
      this.sessions.delete(this.sessions.keys().next().value!);
    }
    this.sessions.set(hash(id), { actor, createdAt: now, lastSeen: now });
    return id;
  }

  /** The actor of a live session (and marks it used), or undefined for an unknown, ended or expired id. */
  touch(id: string | undefined, now: number): string | undefined {
    if (!id) return undefined;
    const key = hash(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (now - s.lastSeen > this.idleMs || now - s.createdAt > this.maxAgeMs) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeen = now;
    this.sessions.delete(key);
    this.sessions.set(key, s);
    return s.actor;
  }

  /** Ends a session (logout); true when there was one. */
  end(id: string | undefined): boolean {
    return id ? this.sessions.delete(hash(id)) : false;
  }

  /** Sessions open now (expired ones are dropped when next seen). */
  get size(): number {
    return this.sessions.size;
  }
}

function hash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
