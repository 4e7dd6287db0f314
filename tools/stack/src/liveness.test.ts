import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LIVENESS_DEFAULTS, LivenessProbe, type LivenessOptions, type LivenessTarget } from './liveness.ts';

// A real HTTP server on loopback whose answer each test sets: 200, 503, or none at all (hung). Short periods
// keep the tests fast; the timing bounds are measured tolerances around period × threshold.

type Mode = 'ok' | 'error' | 'hang';
let server: Server | undefined;
let probe: LivenessProbe | undefined;
afterEach(async () => {
  probe?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function serve(mode: () => Mode): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  server = createServer((_req, res) => {
    requests++;
    const m = mode();
    if (m === 'hang') return; // never answered, as a stopped or blocked process
    res.writeHead(m === 'ok' ? 200 : 503).end();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`, requests: () => requests };
}

const FAST: LivenessOptions = { periodMs: 40, timeoutMs: 40, failureThreshold: 3 };

function watch(
  url: string | undefined,
  target: Partial<LivenessTarget> = {},
): { probe: LivenessProbe; declared: Promise<{ failures: number; lastError: string; atMs: number }> } {
  let resolve: (v: { failures: number; lastError: string; atMs: number }) => void = () => undefined;
  const declared = new Promise<{ failures: number; lastError: string; atMs: number }>((r) => (resolve = r));
  const started = performance.now();
  probe = new LivenessProbe(
    {
      ...(url === undefined ? {} : { url }),
      incarnation: () => 4242,
      onUnresponsive: (failures, lastError) => resolve({ failures, lastError, atMs: performance.now() - started }),
      ...target,
    },
    FAST,
  );
  probe.start();
  return { probe, declared };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LivenessProbe', () => {
  it('declares a hung process unresponsive once, after failureThreshold probes in a row, then stops probing', async () => {
    const { url, requests } = await serve(() => 'hang');
    let calls = 0;
    const { probe, declared } = watch(url, { onUnresponsive: () => calls++ });
    await sleep(800);
    expect(calls).toBe(1);
    expect(probe.active).toBe(false);
    const seen = requests();
    await sleep(200);
    // Probing stopped: no more requests, no second declaration.
    expect([requests(), calls]).toEqual([seen, 1]);
    void declared;
  });

  it('counts a non-200 answer as a failure, naming it, and reports the failures and when', async () => {
    const { url } = await serve(() => 'error');
    const { declared } = watch(url);
    const d = await declared;
    expect(d.failures).toBe(3);
    expect(d.lastError).toBe('answered 503');
    // Three periods at least; a generous bound for a loaded machine, far below a never-ending probe.
    expect(d.atMs).toBeGreaterThanOrEqual(3 * 40 - 5);
    expect(d.atMs).toBeLessThan(2_000);
  });

  it('forgets failures when a probe succeeds: only failures in a row count', async () => {
    let n = 0;
    const { url, requests } = await serve(() => (n++ % 2 === 0 ? 'error' : 'ok'));
    let calls = 0;
    const { probe } = watch(url, { onUnresponsive: () => calls++ });
    await sleep(600);
    expect(requests()).toBeGreaterThanOrEqual(6);
    expect(calls).toBe(0);
    expect(probe.consecutiveFailures).toBeLessThanOrEqual(1);
    expect(probe.active).toBe(true);
  });

  it('forgets the failures of a process held stopped on purpose, and counts them again once it is released', async () => {
    const { url, requests } = await serve(() => 'hang');
    let held = true;
    let calls = 0;
    const asked: number[] = [];
    const { probe, declared } = watch(url, {
      // Asked after a failure only, and asynchronously (as a `docker inspect` would be).
      held: async (incarnation) => (asked.push(incarnation), held),
      onUnresponsive: () => calls++,
    });
    await sleep(400);
    expect(requests()).toBeGreaterThanOrEqual(3);
    expect(asked.length).toBeGreaterThanOrEqual(3);
    expect(new Set(asked)).toEqual(new Set([4242]));
    expect([calls, probe.consecutiveFailures]).toEqual([0, 0]);
    held = false;
    await sleep(900);
    expect(calls).toBe(1);
    void declared;
  });

  it('never asks whether a process is held while it answers', async () => {
    const { url } = await serve(() => 'ok');
    let asked = 0;
    watch(url, { held: () => (asked++, true) });
    await sleep(300);
    expect(asked).toBe(0);
  });

  it('counts a failed held check as the probe failure it follows', async () => {
    const { url } = await serve(() => 'error');
    const { declared } = watch(url, {
      held: () => {
        throw new Error('docker inspect failed');
      },
    });
    expect((await declared).lastError).toBe('answered 503');
  });

  it('probes nothing while the process is not running', async () => {
    const { url, requests } = await serve(() => 'hang');
    let calls = 0;
    watch(url, { incarnation: () => undefined, onUnresponsive: () => calls++ });
    await sleep(300);
    expect([requests(), calls]).toEqual([0, 0]);
  });

  it('ignores an answer about a process that was replaced while the probe was out', async () => {
    const { url } = await serve(() => 'hang');
    let n = 1;
    let calls = 0;
    // Each probe's process is gone by the time its timeout ends: a new one took its place.
    watch(url, { incarnation: () => n++, onUnresponsive: () => calls++ });
    await sleep(500);
    expect(calls).toBe(0);
  });

  it('runs a check of its own instead of an HTTP probe: one that never settles fails at the timeout', async () => {
    let answering = true;
    let checks = 0;
    const { probe, declared } = watch(undefined, {
      check: () => (checks++, answering ? Promise.resolve() : new Promise(() => undefined)),
    });
    await sleep(300);
    expect(checks).toBeGreaterThanOrEqual(3);
    expect(probe.consecutiveFailures).toBe(0);
    answering = false;
    const d = await declared;
    expect(d.lastError).toBe('no answer within 40 ms');
    expect(d.failures).toBe(3);
  });

  it('counts a check that rejects as a failure, with its message', async () => {
    const { declared } = watch(undefined, { check: () => Promise.reject(new Error('UNAVAILABLE: no connection')) });
    expect((await declared).lastError).toBe('UNAVAILABLE: no connection');
  });

  it('needs either a url or a check, not both', () => {
    const base = { incarnation: () => undefined, onUnresponsive: () => undefined };
    expect(() => new LivenessProbe(base)).toThrow('a liveness target needs either a url or a check, not both');
    expect(() => new LivenessProbe({ ...base, url: 'http://127.0.0.1:1/', check: async () => undefined })).toThrow(
      TypeError,
    );
  });

  it('refuses a setting that is not a positive number, naming it', () => {
    const target: LivenessTarget = {
      url: 'http://127.0.0.1:1/',
      incarnation: () => undefined,
      onUnresponsive: () => undefined,
    };
    expect(() => new LivenessProbe(target, { periodMs: 0 })).toThrow('liveness.periodMs must be > 0, got 0');
    expect(() => new LivenessProbe(target, { failureThreshold: Number.NaN })).toThrow(/liveness\.failureThreshold/);
    expect(LIVENESS_DEFAULTS).toEqual({ periodMs: 3_000, timeoutMs: 3_000, failureThreshold: 4 });
  });
});
