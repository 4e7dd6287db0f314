import { pidAlive } from '@nova/process-kit';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './stack.ts';

/**
 * The real stack: embedded PostgreSQL and the three services as processes on loopback, talking HTTP.
 * Walks the user journey, then the degradation cases by stopping services.
 */
let stack: Stack;
const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(url, {
    method: method as 'GET',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
};

beforeAll(async () => {
  stack = await startStack({ env: { LOG_LEVEL: 'error' } });
}, 90_000);
afterAll(async () => {
  await stack?.stop();
}, 30_000);

describe('local stack', () => {
  let ada: { id: string };
  let bob: { id: string };
  let token: string;

  it('walks the journey: create users → login → send a message → read the conversation', async () => {
    const [user] = stack.urls('user');
    const [auth] = stack.urls('auth');
    const [messaging] = stack.urls('messaging');
    const a = await call('POST', `${user}/users`, { email: 'ada@example.com', name: 'Ada', password: 'correct horse' });
    const b = await call('POST', `${user}/users`, {
      email: 'bob@example.com',
      name: 'Bob',
      password: 'battery staple',
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    ada = a.json;
    bob = b.json;
    const login = await call('POST', `${auth}/auth/login`, { email: 'ada@example.com', password: 'correct horse' });
    expect(login.status).toBe(200);
    token = login.json.token;
    const bearer = { authorization: `Bearer ${token}` };
    const sent = await call('POST', `${messaging}/messages`, { to: bob.id, text: 'hello Bob' }, bearer);
    expect(sent.status).toBe(201);
    expect(sent.json).toMatchObject({ from: ada.id, to: bob.id, text: 'hello Bob' });
    const convo = await call('GET', `${messaging}/messages?with=${bob.id}`, undefined, bearer);
    expect(convo.json.messages.map((m: { text: string }) => m.text)).toEqual(['hello Bob']);
    expect((await call('POST', `${auth}/auth/login`, { email: 'ada@example.com', password: 'nope' })).status).toBe(401);
  });

  it('answers bad input over real HTTP with 400 naming the field', async () => {
    const [messaging] = stack.urls('messaging');
    const res = await call(
      'POST',
      `${messaging}/messages`,
      { to: 'bob', text: 'x' },
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(400);
    expect(res.json.field).toBe('body.to');
  });

  it('stores one message for a retried send with the same Idempotency-Key', async () => {
    const [messaging] = stack.urls('messaging');
    const headers = { authorization: `Bearer ${token}`, 'idempotency-key': 'journey-1' };
    const first = await call('POST', `${messaging}/messages`, { to: bob.id, text: 'exactly once' }, headers);
    const again = await call('POST', `${messaging}/messages`, { to: bob.id, text: 'exactly once' }, headers);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.json.id).toBe(first.json.id);
    const convo = await call('GET', `${messaging}/messages?with=${bob.id}`, undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(convo.json.messages.filter((m: { text: string }) => m.text === 'exactly once')).toHaveLength(1);
  });

  it('keeps sending to a recently seen recipient with user-service stopped (fallback)', async () => {
    const [messaging] = stack.urls('messaging');
    const user = stack.instances.find((i) => i.service === 'user')!;
    expect(await user.process.stop('SIGTERM')).toBe(0);
    try {
      const res = await call(
        'POST',
        `${messaging}/messages`,
        { to: bob.id, text: 'while user-service is down' },
        { authorization: `Bearer ${token}` },
      );
      expect(res.status).toBe(201);
      const metrics = await (await request(`${messaging}/metrics`)).body.text();
      expect(metrics).toMatch(/fallback_used_total\{service="messaging-service",upstream="user-service"\} [1-9]/);
    } finally {
      await stack.restart(user);
    }
  });

  it('keeps a stopped-on-purpose replica down (no supervision unless asked)', () => {
    expect(stack.instances.every((i) => i.restarts === 0)).toBe(true);
  });

  it('answers 503 with Retry-After, not 500, with auth-service stopped', async () => {
    const [messaging] = stack.urls('messaging');
    const auth = stack.instances.find((i) => i.service === 'auth')!;
    await auth.process.stop('SIGTERM');
    try {
      const res = await call(
        'POST',
        `${messaging}/messages`,
        { to: bob.id, text: 'x' },
        { authorization: `Bearer ${token}` },
      );
      expect(res.status).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await stack.restart(auth);
    }
    // Back to normal once auth-service is back (its breaker may need its reset timeout).
  });
});

describe('supervision', () => {
  let supervised: Stack;
  const events: string[] = [];
  const held = new Set<number>();
  beforeAll(async () => {
    supervised = await startStack({
      supervise: true,
      env: { LOG_LEVEL: 'error' },
      // Short probes so that a hang is found in ~1 s here; the defaults take ~12 s.
      liveness: { periodMs: 300, timeoutMs: 300, failureThreshold: 3, held: (pid) => held.has(pid) },
      onLifecycle: (e) => events.push(`${e.instance}:${e.type}`),
    });
  }, 90_000);
  afterAll(async () => {
    await supervised?.stop();
  }, 30_000);
  const until = async (event: string, timeoutMs: number): Promise<void> => {
    const started = Date.now();
    while (!events.includes(event)) {
      if (Date.now() - started > timeoutMs) throw new Error(`no ${event} within ${timeoutMs} ms: ${events.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('restarts a replica that dies by itself, with backoff, and reports it', async () => {
    const user = supervised.instances.find((i) => i.service === 'user')!;
    const pid = user.process.pid!;
    process.kill(pid, 'SIGKILL');
    await until('user-service:restarted', 20_000);
    expect(events.slice(0, 2)).toEqual(['user-service:exited', 'user-service:restarted']);
    expect(user.process.pid).not.toBe(pid);
    expect(user.restarts).toBe(1);
    expect((await call('GET', `${user.url}/healthz`)).status).toBe(200);
  }, 30_000);

  it('kills and restarts a hung replica (liveness), but not one held stopped on purpose', async () => {
    const auth = supervised.instances.find((i) => i.service === 'auth')!;
    const pid = auth.process.pid!;
    // Held by a process-failure fault: stopped, and left so for many probe periods.
    held.add(pid);
    process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(events.filter((e) => e.startsWith('auth-service'))).toEqual([]);
    expect(pidAlive(pid)).toBe(true);
    // The same process, no longer held: a hang. Found, killed (SIGTERM is never acted on; SIGKILL), restarted.
    held.delete(pid);
    const found = Date.now();
    await until('auth-service:restarted', 30_000);
    expect(events.filter((e) => e.startsWith('auth-service'))).toEqual([
      'auth-service:unresponsive',
      'auth-service:exited',
      'auth-service:restarted',
    ]);
    // ~1 s of failed probes, the 2 s kill grace, a restart: bounded well below the suite's 8 s faults + slack.
    expect(Date.now() - found).toBeLessThan(15_000);
    expect(pidAlive(pid)).toBe(false);
    expect(auth.process.pid).not.toBe(pid);
    expect(auth.restarts).toBe(1);
    expect((await call('GET', `${auth.url}/healthz`)).status).toBe(200);
    expect(auth.liveness?.active).toBe(true);
  }, 60_000);

  it('kills and restarts a hung PostgreSQL (its probe: a new connection), and the services write to it again', async () => {
    const pid = supervised.postgres.pid!;
    const before = events.length;
    process.kill(pid, 'SIGSTOP');
    await until('postgresql:restarted', 40_000);
    expect(events.slice(before).filter((e) => e.startsWith('postgresql'))).toEqual([
      'postgresql:unresponsive',
      'postgresql:exited',
      'postgresql:restarted',
    ]);
    expect(pidAlive(pid)).toBe(false);
    expect(supervised.postgres.pid).not.toBe(pid);
    // The services' pools drop the connections of the old server and open new ones.
    const [user] = supervised.urls('user');
    const started = Date.now();
    let status = 0;
    while (status !== 201 && Date.now() - started < 15_000) {
      status = (await call('POST', `${user}/users`, { email: 'after@example.com', name: 'Eve', password: 'pw pw pw' }))
        .status;
      if (status !== 201) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(201);
  }, 60_000);
});
