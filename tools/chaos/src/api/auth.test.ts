import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiAuth } from './auth.ts';

const TOKEN = 'tok-0123456789';
const users = new Map([['admin', bcrypt.hashSync('s3cret', 4)]]);
const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const request = (authorization: string, address = '10.0.0.1', extra: Record<string, string> = {}): IncomingMessage =>
  ({ headers: { authorization, ...extra }, socket: { remoteAddress: address } }) as unknown as IncomingMessage;

afterEach(() => vi.restoreAllMocks());

describe('ApiAuth', () => {
  it('accepts the token and a dashboard user, naming the principal; a claimed actor is marked as a claim', async () => {
    const auth = new ApiAuth({ token: TOKEN, users });
    expect(await auth.authenticate(request(`Bearer ${TOKEN}`))).toEqual({
      ok: true,
      principal: { actor: 'api-token', basic: false },
    });
    expect(await auth.authenticate(request(`Bearer ${TOKEN}`, '10.0.0.1', { 'x-chaos-actor': 'k6-run' }))).toEqual({
      ok: true,
      principal: { actor: 'api-token (as k6-run)', basic: false },
    });
    expect(await auth.authenticate(request(basic('admin', 's3cret')))).toEqual({
      ok: true,
      principal: { actor: 'admin', basic: true },
    });
  });

  it('does the same bcrypt work for an unknown user as for a wrong password (no timing oracle for names)', async () => {
    const compare = vi.spyOn(bcrypt, 'compare');
    const auth = new ApiAuth({ token: TOKEN, users });
    expect(await auth.authenticate(request(basic('nobody', 'x')))).toEqual({ ok: false });
    expect(await auth.authenticate(request(basic('admin', 'wrong')))).toEqual({ ok: false });
    expect(compare).toHaveBeenCalledTimes(2);
    // The decoy has the users' cost: $2?$04$ here.
    expect(String(compare.mock.calls[0]![1])).toMatch(/^\$2[aby]\$04\$/);
  });

  it('refuses an address at once after 10 failures in 10 s, whatever it sends, until the window ends', async () => {
    const auth = new ApiAuth({ token: TOKEN, users });
    const t0 = 1_000_000;
    for (let i = 0; i < 10; i++)
      expect(await auth.authenticate(request('Bearer wrong'), t0 + i)).toEqual({ ok: false });
    expect(await auth.authenticate(request(`Bearer ${TOKEN}`), t0 + 100)).toEqual({ ok: false, retryAfterS: 10 });
    // Another address is not affected; the first one is welcome again after the window.
    expect((await auth.authenticate(request(`Bearer ${TOKEN}`, '10.0.0.2'), t0 + 100)).ok).toBe(true);
    expect((await auth.authenticate(request(`Bearer ${TOKEN}`), t0 + 10_001)).ok).toBe(true);
  });

  it('does not count a request without credentials as a failure (a logged-out page polling locks no one out)', async () => {
    const auth = new ApiAuth({ token: TOKEN, users, maxFailures: 2 });
    for (let i = 0; i < 5; i++) expect(await auth.authenticate(request(''))).toEqual({ ok: false });
    expect(await auth.authenticate(request(basic('admin', 's3cret')))).toMatchObject({ ok: true });
    expect(await auth.authenticate(request('Bearer wrong'))).toEqual({ ok: false });
    expect(await auth.authenticate(request('Bearer wrong'))).toEqual({ ok: false });
    expect(await auth.authenticate(request(`Bearer ${TOKEN}`))).toMatchObject({ ok: false, retryAfterS: 10 });
  });

  it('runs at most two bcrypt checks at once; a third is refused with a retry hint, not queued on the event loop', async () => {
    const auth = new ApiAuth({ token: TOKEN, users });
    const answers = await Promise.all(
      [1, 2, 3].map((i) => auth.authenticate(request(basic('admin', `wrong-${i}`), `10.0.1.${i}`))),
    );
    expect(answers).toContainEqual({ ok: false, retryAfterS: 1 });
    expect(answers.filter((a) => a.ok === false && a.retryAfterS === undefined)).toHaveLength(2);
  });

  it("shares one check among a page's parallel requests with the same credentials", async () => {
    const compare = vi.spyOn(bcrypt, 'compare');
    const auth = new ApiAuth({ token: TOKEN, users });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => auth.authenticate(request(basic('admin', 's3cret')))),
    );
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('checks a login form like a header: password or token, the same failure budget per address', async () => {
    const auth = new ApiAuth({ token: TOKEN, users, maxFailures: 2 });
    expect(await auth.login('10.0.0.9', { username: 'admin', password: 's3cret' })).toEqual({
      ok: true,
      principal: { actor: 'admin', basic: true },
    });
    expect(await auth.login('10.0.0.9', { token: TOKEN })).toEqual({
      ok: true,
      principal: { actor: 'api-token', basic: false },
    });
    expect(await auth.login('10.0.0.9', { username: 'admin', password: 'wrong' })).toEqual({ ok: false });
    expect(await auth.login('10.0.0.9', { token: 'wrong' })).toEqual({ ok: false });
    // Two failures spent the budget: even the right password is refused until the window ends.
    expect(await auth.login('10.0.0.9', { username: 'admin', password: 's3cret' })).toMatchObject({
      ok: false,
      retryAfterS: expect.any(Number),
    });
    expect(await auth.authenticate(request(basic('admin', 's3cret'), '10.0.0.9'))).toMatchObject({ ok: false });
  });
});
