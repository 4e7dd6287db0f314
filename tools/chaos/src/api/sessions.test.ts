import { describe, expect, it } from 'vitest';
import { SessionStore } from './sessions.ts';

describe('SessionStore', () => {
  it('knows a session until logout, and never again after it', () => {
    const store = new SessionStore();
    const id = store.create('admin', 0);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(store.touch(id, 1_000)).toBe('admin');
    expect(store.touch('forged', 1_000)).toBeUndefined();
    expect(store.touch(undefined, 1_000)).toBeUndefined();
    expect(store.end(id)).toBe(true);
    expect(store.touch(id, 2_000)).toBeUndefined();
    expect(store.end(id)).toBe(false);
  });

  it('ends a session unused for idleMs; use keeps it alive, but never past maxAgeMs after login', () => {
    const store = new SessionStore({ idleMs: 1_000, maxAgeMs: 5_000 });
    const idle = store.create('a', 0);
    expect(store.touch(idle, 1_000)).toBe('a'); // exactly idleMs: still alive
    expect(store.touch(idle, 2_001)).toBeUndefined(); // 1 001 ms unused
    const busy = store.create('b', 0);
    for (let t = 900; t <= 4_500; t += 900) expect(store.touch(busy, t)).toBe('b');
    expect(store.touch(busy, 5_001)).toBeUndefined(); // used 501 ms ago, but 5 001 ms after login
    expect(store.size).toBe(0);
  });

  it('keeps at most maxSessions, dropping the least recently used', () => {
    const store = new SessionStore({ maxSessions: 2 });
    const first = store.create('first', 0);
    const second = store.create('second', 1);
    expect(store.touch(first, 2)).toBe('first'); // now second is the least recently used
    const third = store.create('third', 3);
    expect(store.size).toBe(2);
    expect(store.touch(second, 4)).toBeUndefined();
    expect(store.touch(first, 4)).toBe('first');
    expect(store.touch(third, 4)).toBe('third');
  });
});
