import dns from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dnsPattern } from './drivers/dns.ts';
import { FaultRuntime } from './runtime.ts';
import { outboundFaults } from './undici-interceptor.ts';

const runtime = new FaultRuntime();
let server: Server;
let port: number;
const agent = new Agent();
const realLookup = dns.lookup;

beforeAll(async () => {
  server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterEach(() => runtime.recoverAll());
afterAll(async () => {
  await agent.close();
  await new Promise((r) => server.close(r));
});

const lookup = (name: string): Promise<string> =>
  new Promise((resolve, reject) =>
    dns.lookup(name, { family: 4 }, (err, address) => (err ? reject(err) : resolve(address))),
  );

describe('DNSChaos in-process (dns-fault)', () => {
  it('fails lookups of matching names (dns.lookup, dns.promises, and connections by name); other names resolve', async () => {
    await runtime.apply('e', 'dns-fault', { action: 'error', patterns: ['localhost'] }, 60_000);
    await expect(lookup('localhost')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(dns.promises.lookup('LOCALHOST.')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // A connection by name goes through dns.lookup: undici fails as it would on NXDOMAIN.
    await expect(request(`http://localhost:${port}/`, { dispatcher: agent })).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
    // An address needs no lookup; another name resolves as before.
    expect((await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).statusCode).toBe(200);
    const effect = runtime.effect('e')!;
    expect(effect.took).toBe(true);
    expect(effect.figures['affected']).toBe(3);
    expect(effect.figures['seen']).toBe(3);
    await runtime.recover('e');
    expect(dns.lookup).toBe(realLookup);
    // A name the patterns do not match resolves as before (from /etc/hosts: no query leaves the machine).
    await runtime.apply('other', 'dns-fault', { action: 'error', patterns: ['user-service'] }, 60_000);
    expect(await lookup('localhost')).toBe('127.0.0.1');
    expect(runtime.effect('other')).toMatchObject({ took: false, figures: { seen: 1, affected: 0 } });
  });

  it('answers a random loopback address (never 127.0.0.x), replayable by seed', async () => {
    await runtime.apply('r', 'dns-fault', { action: 'random', patterns: ['db.example.*'], seed: 7 }, 60_000);
    const a = [await lookup('db.example.org'), await lookup('db.example.com')];
    for (const x of a) expect(x).toMatch(/^127\.(?!0\.0\.)\d+\.\d+\.\d+$/);
    const all = await dns.promises.lookup('db.example.net', { all: true });
    expect(all).toEqual([{ address: expect.stringMatching(/^127\./), family: 4 }]);
    await runtime.recover('r');
    await runtime.apply('r2', 'dns-fault', { action: 'random', patterns: ['db.example.*'], seed: 7 }, 60_000);
    expect([await lookup('db.example.org'), await lookup('db.example.com')]).toEqual(a);
  });

  it('fails calls to a named upstream (the cluster name a Kubernetes client would resolve); others untouched', async () => {
    await runtime.apply('u', 'dns-fault', { action: 'error', patterns: ['user-serv?ce'] }, 60_000);
    const toUsers = agent.compose(outboundFaults(runtime, { upstream: 'user-service' }));
    const toAuth = agent.compose(outboundFaults(runtime, { upstream: 'auth-service' }));
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: toUsers })).rejects.toThrow(
      /getaddrinfo ENOTFOUND user-service \(injected fault u\)/,
    );
    expect((await request(`http://127.0.0.1:${port}/`, { dispatcher: toAuth })).statusCode).toBe(200);
    expect(runtime.effect('u')).toMatchObject({ took: true, figures: { seen: 2, affected: 1 } });
  });

  it('a random answer for an upstream sends the call to a loopback address where nothing listens', async () => {
    await runtime.apply('ru', 'dns-fault', { action: 'random', patterns: [] }, 60_000);
    const toUsers = agent.compose(outboundFaults(runtime, { upstream: 'user-service' }));
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: toUsers })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('reads Chaos Mesh domain templates: ? is one character, * only at the end', async () => {
    expect(dnsPattern('github.?om')('github.com')).toBe(true);
    expect(dnsPattern('github.?om')('github.coom')).toBe(false);
    expect(dnsPattern('chaos-mesh.*')('chaos-mesh.org')).toBe(true);
    expect(dnsPattern('chaos-mesh.*')('chaos-meshXorg')).toBe(false);
    expect(dnsPattern('google.com')('www.google.com')).toBe(false);
    await expect(
      runtime.apply('bad', 'dns-fault', { action: 'error', patterns: ['chaos-mes*.org'] }, 1000),
    ).rejects.toThrow(/spec.patterns\[0\] "chaos-mes\*.org" is not a domain template/);
    await expect(runtime.apply('bad', 'dns-fault', { action: 'drop' }, 1000)).rejects.toThrow(
      'dns-fault: spec.action must be one of error, random, got "drop"',
    );
  });
});
