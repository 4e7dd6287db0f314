import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGenerator } from './load.ts';

/** Logins the stand-in holds unanswered while `holdLogins` is set (a surge stuck on an overloaded service). */
const held: Array<() => void> = [];
let holdLogins = false;
let server: Server;
let url: string;

/** One stand-in for the three services on loopback: just enough of each route for the journeys. */
beforeAll(async () => {
  let id = 0;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && req.url === '/users') return answer(201, { id: `u${id++}` });
      if (req.url === '/auth/login') {
        if (holdLogins) return held.push(() => answer(503, { error: 'late' }));
        return answer(200, { token: 't' });
      }
      if (req.url?.startsWith('/messages')) return answer(req.method === 'POST' ? 201 : 200, []);
      return answer(200, { id: 'u' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const count = (load: LoadGenerator, journey: string, from: number, status?: string | number) =>
  load.samples.filter((s) => s.journey === journey && s.at >= from && (status === undefined || s.status === status))
    .length;

describe('the built-in load generator', () => {
  it('adds a surge of one journey on top of the steady cycle while it is set, and only then', async () => {
    const load = new LoadGenerator({ user: [url], auth: [url], messaging: [url] }, { ratePerSecond: 40 });
    await load.prepare(2);
    load.start();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const surgeStart = load.now();
      load.setSurge({ journey: 'login', ratePerSecond: 100 });
      await new Promise((r) => setTimeout(r, 1_000));
      load.setSurge(undefined);
      const surgeEnd = load.now();
      await new Promise((r) => setTimeout(r, 1_000));
      const within = (journey: string, from: number, to: number) =>
        load.samples.filter((s) => s.journey === journey && s.at >= from && s.at < to).length;
      // Steady: 10/s of each journey; the surge adds 100 logins/s for 1 s. Timer tolerances, not exact counts.
      expect(within('login', surgeStart, surgeEnd)).toBeGreaterThan(80);
      expect(within('login', surgeStart, surgeEnd)).toBeLessThan(130);
      expect(within('read-profile', surgeStart, surgeEnd)).toBeGreaterThan(6);
      expect(within('read-profile', surgeStart, surgeEnd)).toBeLessThan(14);
      // The steady cycle kept its order: the surge did not move it.
      expect(within('send-message', surgeStart, surgeEnd)).toBeGreaterThan(6);
      expect(within('login', surgeEnd + 50, load.now())).toBeLessThan(14);
      expect(load.samples.every((s) => s.ok)).toBe(true);
    } finally {
      await load.stop();
    }
  });

  it('bounds a stuck surge apart from the steady load, whose requests still go out and succeed', async () => {
    const load = new LoadGenerator(
      { user: [url], auth: [url], messaging: [url] },
      { ratePerSecond: 40, maxInFlight: 20 },
    );
    await load.prepare(2);
    load.start();
    holdLogins = true;
    try {
      const from = load.now();
      load.setSurge({ journey: 'login', ratePerSecond: 100 });
      await new Promise((r) => setTimeout(r, 800));
      load.setSurge(undefined);
      // Twenty surge logins hang; the rest of the surge (~60) is recorded as not sent, failed.
      expect(count(load, 'login', from, 'load-generator-saturated')).toBeGreaterThan(40);
      // The steady journeys were not held back by the stuck surge: their own bound has room (the steady
      // logins hang too, ~8 of them, under 20).
      const steady = load.samples.filter((s) => s.at >= from && s.journey !== 'login');
      expect(steady.length).toBeGreaterThan(12);
      expect(steady.every((s) => s.ok)).toBe(true);
    } finally {
      holdLogins = false;
      for (const release of held.splice(0)) release();
      await load.stop();
    }
  });

  it('follows a replica that moved mid-run (a restarted container answers at another address)', async () => {
    // The replica's new home: a second stand-in that counts the profile reads it answers.
    let reads = 0;
    const moved = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/users/')) reads++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"u"}');
    });
    await new Promise<void>((r) => moved.listen(0, '127.0.0.1', r));
    const movedUrl = `http://127.0.0.1:${(moved.address() as AddressInfo).port}`;
    let userUrl = url;
    const load = new LoadGenerator(() => ({ user: [userUrl], auth: [url], messaging: [url] }), { ratePerSecond: 40 });
    try {
      await load.prepare(2);
      load.start();
      await new Promise((r) => setTimeout(r, 300));
      expect(reads).toBe(0);
      userUrl = movedUrl;
      const from = load.now();
      await new Promise((r) => setTimeout(r, 600));
      // 10 profile reads/s: every one since the move went to the new address, and succeeded.
      const since = load.samples.filter((s) => s.journey === 'read-profile' && s.at >= from + 30);
      expect(since.length).toBeGreaterThan(2);
      expect(since.every((s) => s.ok)).toBe(true);
      expect(reads).toBeGreaterThanOrEqual(since.length);
    } finally {
      await load.stop();
      moved.closeAllConnections();
      await new Promise((r) => moved.close(r));
    }
  });
});
