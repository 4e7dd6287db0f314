import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_CODE_METADATA, grpc, type Fault } from '@nova/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { startApi } from './server.ts';
import { fakeRunner, httpAbortYaml } from './test-doubles.ts';
import { ControllerAudit } from '../plan/policy.ts';
import type { Runner } from '../run/runner.ts';
import { UnsupportedLocallyError } from '../plan/translate.ts';

/** A runner whose agent died after injecting: every recovery fails, as a dead agent's would. */
function runnerWithDeadAgent(): Runner {
  return fakeRunner(async () => {
    throw new Error('agent unavailable: connect ECONNREFUSED 127.0.0.1:7070');
  });
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** An API on a loopback port over `runner`, closed after the test, and a caller holding its token. */
async function apiWith(runner: Runner, auditFile: string) {
  const api = await startApi({
    runner,
    audit: new ControllerAudit(auditFile, 'test'),
    token: 'tok-0123456789',
    suite: [],
    host: '127.0.0.1',
    port: 0,
  });
  closers.push(api.close);
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: 'Bearer tok-0123456789', 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  return { api, call };
}

describe('the REST API when the agent dies mid-experiment', () => {
  it('records a failed recovery at expiry on the experiment and in the audit log, and keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-api-'));
    const auditFile = join(dir, 'audit.jsonl');
    const { api, call } = await apiWith(runnerWithDeadAgent(), auditFile);
    const yaml = httpAbortYaml('1s');
    const started = await call('POST', '/api/v1/experiments', { yaml });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    // Past the expiry: the recovery there fails (no unhandled rejection: vitest would fail this test).
    await new Promise((r) => setTimeout(r, 1_500));
    const exp = (await (await call('GET', `/api/v1/experiments/${id}`)).json()) as { phase: string; error?: string };
    expect(exp.phase).toBe('failed');
    expect(exp.error).toMatch(
      /^recovery at expiry failed: agent unavailable.*reverts the fault itself when its lease ends/,
    );
    const audit = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; result: string });
    expect(audit.at(-1)).toMatchObject({ action: 'api-stop', result: 'failed' });
    expect((await fetch(`${api.url}/api/v1/health`)).status).toBe(200);
  });
});

describe('the REST API reports what each fault did', () => {
  it('shows the effect measured at each target after recovery, and a failed undo fails the experiment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-api-'));
    const fault = (over: Partial<Fault>): Fault => ({
      id: 'f',
      experimentUid: 'x',
      targetId: 'user-0',
      kind: 'http-abort',
      specJson: '{}',
      phase: 'recovered',
      appliedAtMs: 0,
      expiresAtMs: 0,
      error: '',
      recoveredAtMs: 0,
      ...over,
    });
    const answers: Fault[][] = [
      [
        fault({
          effectJson: JSON.stringify({
            took: true,
            summary: 'aborted 3 of 9 requests',
            figures: { seen: 9, affected: 3 },
          }),
        }),
      ],
      [
        fault({
          phase: 'failed',
          error: 'recover failed: user-service did not acknowledge recover of f within 3000 ms',
          effectJson: '',
        }),
      ],
    ];
    const { call } = await apiWith(
      fakeRunner(async () => answers.shift()!),
      join(dir, 'audit.jsonl'),
    );
    const yaml = httpAbortYaml('60s');
    const start = async (): Promise<string> =>
      ((await (await call('POST', '/api/v1/experiments', { yaml })).json()) as { id: string }).id;
    const first = await start();
    const stopped = (await (await call('DELETE', `/api/v1/experiments/${first}`)).json()) as {
      phase: string;
      effects: unknown;
    };
    expect(stopped).toMatchObject({
      phase: 'recovered',
      effects: [{ target: 'user-0', kind: 'http-abort', took: true, summary: 'aborted 3 of 9 requests' }],
    });
    const second = await start();
    const failed = (await (await call('DELETE', `/api/v1/experiments/${second}`)).json()) as {
      phase: string;
      error: string;
      effects: unknown;
    };
    expect(failed).toMatchObject({
      phase: 'failed',
      error:
        'recovery failed: http-abort on user-0: recover failed: user-service did not acknowledge recover of f within 3000 ms',
    });
    expect(failed.effects).toEqual([
      { target: 'user-0', kind: 'http-abort', took: false, summary: 'no effect reported' },
    ]);
  });
});

describe('the REST API against hostile input', () => {
  it('sends security headers, answers bad input with 4xx (never 500), and logs refusals without echoing them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-api-'));
    const auditFile = join(dir, 'audit.jsonl');
    const htpasswd = `admin:${(await import('bcryptjs')).default.hashSync('pw', 4)}\n`;
    const api = await startApi({
      runner: runnerWithDeadAgent(),
      audit: new ControllerAudit(auditFile, 'test'),
      token: 'tok-0123456789',
      htpasswd,
      suite: [],
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(api.close);
    const headers = { authorization: 'Bearer tok-0123456789', 'content-type': 'application/json' };
    const health = await fetch(`${api.url}/api/v1/health`);
    expect(health.headers.get('x-frame-options')).toBe('DENY');
    const csp = health.headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+';/);
    expect(health.headers.get('referrer-policy')).toBe('no-referrer');
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    // A billion-laughs YAML: a 400 naming the problem, not a 500 or a hang.
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
      ),
    ].join('\n');
    const bombed = await fetch(`${api.url}/api/v1/experiments`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ yaml: bomb }),
    });
    expect(bombed.status).toBe(400);
    // Origin: null from a Basic-authenticated mutation is a foreign origin (403), not a crash.
    const basic = `Basic ${Buffer.from('admin:pw').toString('base64')}`;
    const nullOrigin = await fetch(`${api.url}/api/v1/experiments`, {
      method: 'POST',
      headers: { authorization: basic, 'x-nova-csrf': '1', origin: 'null', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(nullOrigin.status).toBe(403);
    // An unauthenticated request with a long path: refused, and the audit keeps a bounded line.
    expect((await fetch(`${api.url}/${'x'.repeat(8_000)}`)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    const last = readFileSync(auditFile, 'utf8').trim().split('\n').at(-1)!;
    expect(last.length).toBeLessThan(400);
    expect(JSON.parse(last)).toMatchObject({ result: 'denied' });
  });
});

describe('error codes across the boundaries', () => {
  it("carries the agent's code of a failed injection and the planner's code of a refusal into the answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nova-api-'));
    const runner = fakeRunner();
    // What a failed ApplyFault looks like to the runner: a gRPC error with the agent's code in its trailer.
    const trailer = new grpc.Metadata();
    trailer.set(ERROR_CODE_METADATA, 'AGENT_ERR_APPLY_FAILED');
    runner.inject = async () => {
      throw Object.assign(new Error('9 FAILED_PRECONDITION: could not inject http-error into user-service'), {
        code: grpc.status.FAILED_PRECONDITION,
        metadata: trailer,
      });
    };
    const { call } = await apiWith(runner, join(dir, 'audit.jsonl'));
    const started = await call('POST', '/api/v1/experiments', { yaml: httpAbortYaml('5s') });
    const exp = (await started.json()) as { phase: string; error?: string; errorCode?: string };
    expect(exp).toMatchObject({ phase: 'failed', errorCode: 'AGENT_ERR_APPLY_FAILED' });
    expect(exp.error).toMatch(/could not inject/);

    runner.plan = async () => {
      throw new UnsupportedLocallyError('IOChaos mistake: no layer here applies it');
    };
    const refused = await call('POST', '/api/v1/experiments', { yaml: httpAbortYaml('5s', 'other') });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toEqual({
      error: 'IOChaos mistake: no layer here applies it',
      code: 'API_ERR_UNPROCESSABLE',
      cause: 'CHAOS_ERR_UNSUPPORTED',
    });
  });
});
