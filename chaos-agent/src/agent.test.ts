import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEffect, type FaultEffect } from '@nova/faults';
import { bearer, errorCodeOf, grpc, unary, type AgentEvent, type Fault } from '@nova/proto';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controller, ping, startAgentProcess, startTarget, TOKEN, until, type Child } from '../test/helpers.ts';
import { startAgent, type RunningAgent } from './server.ts';

const dir = mkdtempSync(join(tmpdir(), 'nova-agent-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
const md = bearer(TOKEN);
/** The effect an agent recorded for a fault (fails the test when it recorded none). */
const effectOf = (f: Fault | undefined): FaultEffect => {
  const e = parseEffect(f?.effectJson);
  if (!e) throw new Error(`no effect recorded for ${f?.id}: ${JSON.stringify(f?.effectJson)}`);
  return e;
};

describe('chaos-agent API (in-process agent, target service as a process)', () => {
  let agent: RunningAgent;
  let target: { child: Child; url: string };
  let ctl: ReturnType<typeof controller>;
  let targetId: string;
  const events: AgentEvent[] = [];

  beforeAll(async () => {
    agent = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      metricsListen: '127.0.0.1:0',
      allowedNamespaces: ['shop'],
      auditFile: join(dir, 'audit.jsonl'),
      heartbeatGraceMs: 1000,
      logger: pino({ level: 'silent' }),
    });
    ctl = controller(agent.address);
    ctl.client.watch({}, md).on('data', (e: AgentEvent) => events.push(e));
    target = await startTarget(agent.address);
    await until(async () => (await ctl.targets()).length === 1, 10_000, 'registration');
    targetId = (await ctl.targets())[0]!.id;
  }, 30_000);
  afterAll(async () => {
    await target?.child.kill();
    ctl?.client.close();
    await agent?.close();
  });

  const apply = (kind: string, spec: object, leaseMs = 30_000, experimentUid = 'exp-1', id = targetId) =>
    unary(
      ctl.client.applyFault.bind(ctl.client),
      { experimentUid, targetId: id, kind, specJson: JSON.stringify(spec), leaseMs, actor: 'test' },
      md,
    );
  const recover = (experimentUid = 'exp-1') => unary(ctl.client.recoverFault.bind(ctl.client), { experimentUid }, md);

  it('refuses calls without the right token', async () => {
    const err = await unary(ctl.client.listTargets.bind(ctl.client), {}, bearer('wrong-token-wrong-token')).catch(
      (e: grpc.ServiceError) => e,
    );
    expect((err as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(errorCodeOf(err)).toBe('AGENT_ERR_UNAUTHENTICATED');
    const none = await unary(ctl.client.listFaults.bind(ctl.client), {}, new grpc.Metadata()).catch(
      (e: grpc.ServiceError) => e,
    );
    expect((none as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('lists the registered service with its namespace, labels, pid and port', async () => {
    const [t] = await ctl.targets();
    expect(t).toMatchObject({ name: 'target', namespace: 'shop', labels: { app: 'target' } });
    expect(t!.pid).toBe(target.child.proc.pid);
    expect(t!.ports).toEqual([Number(new URL(target.url).port)]);
    expect(await unary(ctl.client.listTargets.bind(ctl.client), { namespace: 'other' }, md)).toEqual({ targets: [] });
  });

  it('applies a fault that is active when ApplyFault returns, idempotently, and recovers it', async () => {
    const { fault } = await apply('http-error', { status: 503, path: '/ping' });
    expect(fault).toMatchObject({ phase: 'injected', kind: 'http-error', experimentUid: 'exp-1', targetId });
    expect(await ping(target.url)).toBe(503);
    // While it holds, the service reports what it has done every second, and ListFaults shows it.
    await until(
      async () =>
        parseEffect((await unary(ctl.client.listFaults.bind(ctl.client), {}, md)).faults[0]?.effectJson)?.summary ===
        'answered 503 to 1 of 1 requests',
      3000,
      'the live effect',
    );
    const again = await apply('http-error', { status: 503, path: '/ping' });
    expect(again.fault.id).toBe(fault.id);
    expect((await unary(ctl.client.listFaults.bind(ctl.client), {}, md)).faults).toHaveLength(1);
    const metrics = await (await request(`http://127.0.0.1:${agent.metricsPort}/metrics`)).body.text();
    expect(metrics).toMatch(/chaos_agent_faults_active\{kind="http-error"\} 1/);
    const { faults } = await recover();
    expect(faults.map((f: Fault) => f.phase)).toEqual(['recovered']);
    // The effect measured in the service comes back with the recovery: the one /ping that got the 503.
    expect(effectOf(faults[0])).toEqual({
      took: true,
      summary: 'answered 503 to 1 of 1 requests',
      figures: { seen: 1, affected: 1, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
    expect(await ping(target.url)).toBe(200);
    expect((await recover()).faults.map((f: Fault) => f.phase)).toEqual(['recovered']);
    expect((await unary(ctl.client.listFaults.bind(ctl.client), {}, md)).faults).toHaveLength(0);
    await until(() => events.some((e) => e.type === 'fault-recovered'), 2000, 'watch event');
    expect(events.map((e) => e.type)).toContain('fault-injected');
  });

  it('reverts at lease expiry in the agent and the service, with no controller call', async () => {
    await apply('http-error', { status: 500, path: '/ping' }, 400, 'exp-lease');
    expect(await ping(target.url)).toBe(500);
    const took = await until(async () => (await ping(target.url)) === 200, 3000, 'lease expiry');
    expect(took).toBeLessThan(1000);
    await until(
      async () => (await unary(ctl.client.listFaults.bind(ctl.client), {}, md)).faults.length === 0,
      2000,
      'agent bookkeeping',
    );
    // Ended by the leases, and its effect still known to the agent.
    const ended = (await unary(ctl.client.listFaults.bind(ctl.client), { includeEnded: true }, md)).faults.find(
      (f: Fault) => f.experimentUid === 'exp-lease',
    );
    expect(ended).toMatchObject({ phase: 'recovered' });
    const effect = effectOf(ended);
    expect(effect.took).toBe(true);
    // Every /ping while it was active was answered 500 by it (the polling above saw them).
    expect(effect.figures['affected']).toBeGreaterThanOrEqual(1);
    expect(effect.figures['seen']).toBe(effect.figures['affected']);
  });

  it('lists the kinds it offers with their layers: the in-process ones and its own (no Docker: process only)', async () => {
    const { kinds } = await unary(ctl.client.listKinds.bind(ctl.client), {}, md);
    const layerOf = new Map(kinds.map((k) => [k.kind, k.layer]));
    expect(layerOf.get('http-delay')).toBe('in-process');
    expect(layerOf.get('process-kill')).toBe('process');
    expect(kinds.find((k) => k.kind === 'process-failure')).toMatchObject({ layer: 'process', holdsTarget: true });
    expect(kinds.filter((k) => k.layer === 'container' || k.layer === 'kernel')).toEqual([]);
    expect(new Set(kinds.map((k) => k.kind)).size).toBe(kinds.length);
    expect(kinds.every((k) => k.description.length > 0)).toBe(true);
  });

  it('rejects bad requests with a clear status, message and stable code, injecting nothing', async () => {
    const cases: Array<[string, object, number, RegExp, string, string?]> = [
      [
        'http-delay',
        { latencyMs: 'slow' },
        grpc.status.INVALID_ARGUMENT,
        /spec.latencyMs must be a number/,
        'CHAOS_ERR_INVALID_SPEC',
      ],
      [
        'time-offset',
        { offsetMs: 0 },
        grpc.status.INVALID_ARGUMENT,
        /spec.offsetMs must not be 0/,
        'CHAOS_ERR_INVALID_SPEC',
      ],
      // The error names every kind the agent offers, its own (process-kill) as well as the in-process ones.
      [
        'http-teleport',
        {},
        grpc.status.INVALID_ARGUMENT,
        /unknown fault kind "http-teleport".*http-delay.*process-kill/,
        'CHAOS_ERR_UNKNOWN_FAULT',
      ],
      ['http-error', {}, grpc.status.NOT_FOUND, /no registered target "ghost"/, 'AGENT_ERR_TARGET_NOT_FOUND', 'ghost'],
    ];
    for (const [kind, spec, code, message, stable, id] of cases) {
      const err = (await apply(kind, spec, 1000, 'exp-bad', id ?? targetId).catch(
        (e: unknown) => e,
      )) as grpc.ServiceError;
      expect(err.code, kind).toBe(code);
      expect(err.details).toMatch(message);
      expect(errorCodeOf(err), kind).toBe(stable);
    }
    const noLease = (await apply('http-error', {}, 0).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(noLease.details).toMatch(/every fault needs a lease/);
    expect(errorCodeOf(noLease)).toBe('AGENT_ERR_LEASE');
    expect(await ping(target.url)).toBe(200);
  });

  it('enforces the namespace allowlist server-side and audit-logs every mutating call', async () => {
    const denied = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      allowedNamespaces: ['payments'],
      logger: pino({ level: 'silent' }),
    });
    const other = await startTarget(denied.address, 'other');
    try {
      const c = controller(denied.address);
      await until(async () => (await c.targets()).length === 1, 10_000, 'registration');
      const [t] = await c.targets();
      const err = (await unary(
        c.client.applyFault.bind(c.client),
        { experimentUid: 'x', targetId: t!.id, kind: 'http-abort', specJson: '{}', leaseMs: 1000 },
        md,
      ).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toMatch(/namespace "shop" is not in the allowed namespaces \(payments\)/);
      expect(denied.audit.records.at(-1)).toMatchObject({ action: 'apply', result: 'denied' });
      c.client.close();
    } finally {
      await other.child.kill();
      await denied.close();
    }
    await agent.audit.flush();
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(
      lines.some((l) => l.action === 'apply' && l.result === 'ok' && l.actor === 'test' && l.kind === 'http-error'),
    ).toBe(true);
    expect(lines.some((l) => l.action === 'recover' && l.experimentUid === 'exp-1')).toBe(true);
  }, 30_000);

  it('holds the process down for a pod-failure and resumes it on recovery', async () => {
    await apply('process-failure', {}, 10_000, 'exp-failure');
    expect(await ping(target.url, 300)).toBe('error');
    const { faults } = await recover('exp-failure');
    await until(async () => (await ping(target.url)) === 200, 3000, 'resume');
    // Seen stopped (state T in /proc) for about as long as it was held.
    const effect = effectOf(faults[0]);
    expect(effect).toMatchObject({ took: true, figures: { seenStopped: 1 } });
    expect(effect.figures['stoppedMs']).toBeGreaterThanOrEqual(300);
    expect(effect.summary).toMatch(new RegExp(`^pid ${target.child.proc.pid} stopped \\(state T\\) for \\d+\\.\\d s$`));
  });

  it('reports a recovery the service did not acknowledge as failed, with the reason, never as recovered', async () => {
    await apply('http-error', { status: 503, path: '/ping' }, 30_000, 'exp-unacked');
    // Stopped, the service cannot acknowledge the recovery within the agent's 3 s.
    await apply('process-failure', {}, 20_000, 'exp-hold');
    const { faults } = await recover('exp-unacked');
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({
      phase: 'failed',
      error: expect.stringMatching(/^recover failed: target did not acknowledge recover of .* within 3000 ms$/),
    });
    expect(events.some((e) => e.type === 'fault-failed' && e.fault?.experimentUid === 'exp-unacked')).toBe(true);
    // The audit says the fault may still be in place, not "ok".
    expect(agent.audit.records.find((r) => r.action === 'recover' && r.experimentUid === 'exp-unacked')).toMatchObject({
      result: 'failed',
      detail: expect.stringMatching(/^1 of 1 fault\(s\) not reverted: http-error on .*: recover failed: /),
    });
    await recover('exp-hold');
    // Resumed, the service reads the recovery it was sent and reverts the fault.
    await until(async () => (await ping(target.url)) === 200, 3000, 'resume and revert');
  }, 20_000);
});

describe('crash safety (agent and service as processes, SIGKILL)', () => {
  it('a service that loses its agent reverts every fault within the grace period, and a new agent starts clean', async () => {
    const first = await startAgentProcess('127.0.0.1:0', [], tokenFile);
    const port = first.address.split(':')[1]!;
    const target = await startTarget(first.address);
    const ctl = controller(first.address);
    try {
      await until(async () => (await ctl.targets()).length === 1, 10_000, 'registration');
      const [t] = await ctl.targets();
      await unary(
        ctl.client.applyFault.bind(ctl.client),
        { experimentUid: 'crash', targetId: t!.id, kind: 'http-error', specJson: '{"status":503}', leaseMs: 60_000 },
        md,
      );
      expect(await ping(target.url)).toBe(503);
      await first.child.kill('SIGKILL');
      const took = await until(async () => (await ping(target.url)) === 200, 5000, 'revert after agent loss');
      // Grace is 1 s here (2 s by default); allow for the heartbeat period.
      expect(took).toBeLessThan(2000);
      const second = await startAgentProcess(`127.0.0.1:${port}`, [], tokenFile);
      const ctl2 = controller(second.address);
      try {
        await until(async () => (await ctl2.targets()).length === 1, 10_000, 're-registration');
        expect((await unary(ctl2.client.listFaults.bind(ctl2.client), { includeEnded: true }, md)).faults).toEqual([]);
        expect(await ping(target.url)).toBe(200);
      } finally {
        ctl2.client.close();
        await second.child.kill('SIGTERM');
      }
    } finally {
      ctl.client.close();
      await target.child.kill();
      await first.child.kill();
    }
  }, 40_000);

  it('a pod-failure outlives no agent: SIGKILL the agent while the service is stopped, and it resumes at lease expiry', async () => {
    const agent = await startAgentProcess('127.0.0.1:0', ['--state-dir', dir], tokenFile);
    const target = await startTarget(agent.address);
    const ctl = controller(agent.address);
    try {
      await until(async () => (await ctl.targets()).length === 1, 10_000, 'registration');
      const [t] = await ctl.targets();
      await unary(
        ctl.client.applyFault.bind(ctl.client),
        { experimentUid: 'stop', targetId: t!.id, kind: 'process-failure', specJson: '{}', leaseMs: 1500 },
        md,
      );
      expect(await ping(target.url, 300)).toBe('error');
      await agent.child.kill('SIGKILL');
      const took = await until(async () => (await ping(target.url, 300)) === 200, 5000, 'watchdog resume');
      expect(took).toBeLessThan(3000);
    } finally {
      ctl.client.close();
      await target.child.kill();
      await agent.child.kill();
    }
  }, 40_000);

  it('kills a target for a pod-kill (SIGTERM first) and reports the fault recovered and the target gone', async () => {
    const agent = await startAgentProcess('127.0.0.1:0', [], tokenFile);
    const target = await startTarget(agent.address);
    const ctl = controller(agent.address);
    try {
      await until(async () => (await ctl.targets()).length === 1, 10_000, 'registration');
      const [t] = await ctl.targets();
      const exited = new Promise<number | null>((r) => target.child.proc.once('exit', (code) => r(code)));
      await unary(
        ctl.client.applyFault.bind(ctl.client),
        {
          experimentUid: 'kill',
          targetId: t!.id,
          kind: 'process-kill',
          specJson: '{"gracePeriodMs":2000}',
          leaseMs: 10_000,
        },
        md,
      );
      // SIGTERM: the service drains and exits 0 (a graceful stop, not a SIGKILL).
      expect(await exited).toBe(0);
      await until(async () => (await ctl.targets()).length === 0, 5000, 'target gone');
      await until(
        async () => (await unary(ctl.client.listFaults.bind(ctl.client), {}, md)).faults.length === 0,
        3000,
        'kill recorded',
      );
      const { faults } = await unary(ctl.client.listFaults.bind(ctl.client), { includeEnded: true }, md);
      expect(faults.map((f: Fault) => f.phase)).toEqual(['recovered']);
      // The agent saw the process go after the SIGTERM, before the 2 s grace ran out (no SIGKILL needed).
      const effect = effectOf(faults[0]);
      expect(effect).toMatchObject({ took: true, figures: { escalated: 0 } });
      expect(effect.figures['goneAfterMs']).toBeLessThan(2000);
      expect(effect.summary).toMatch(/^pid \d+ gone \d+ ms after SIGTERM$/);
    } finally {
      ctl.client.close();
      await target.child.kill();
      await agent.child.kill();
    }
  }, 40_000);
});

describe('chaos-agent CLI', () => {
  it('prints usage with --help and refuses to start without a token', async () => {
    const { execFile } = await import('node:child_process');
    const main = new URL('./main.ts', import.meta.url).pathname;
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) =>
        execFile(
          process.execPath,
          ['--conditions=@nova/source', '--import', 'tsx', main, ...args],
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        ),
      );
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: chaos-agent --listen 127.0.0.1:7070 --token-file <file>/);
    const noToken = await run(['--listen', '127.0.0.1:0']);
    expect(noToken.code).toBe(2);
    expect(noToken.out).toMatch(/--token-file is required/);
    const badFlag = await run(['--token-file', tokenFile, '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.out).toMatch(/Unknown option '--bogus'/);
  }, 20_000);
});
