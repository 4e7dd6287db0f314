import { spawn, type ChildProcess } from 'node:child_process';
import { bearer, grpc, mintIdentityToken, unary, type Hello } from '@nova/proto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controller, TOKEN, until } from '../test/helpers.ts';
import { AgentDrivers } from './drivers/index.ts';
import { lastingInjection, verifiedPid, type ProcessDriver } from './drivers/process.ts';
import { FaultManager } from './fault-manager.ts';
import { AgentMetrics } from './metrics.ts';
import { descendsFrom, parseAddress, pidOfTcpPeer, procNetAddress } from './peer-identity.ts';
import { TargetRegistry } from './registry.ts';
import { startAgent, type RunningAgent } from './server.ts';

// Regression tests of attacks found by probing the agent as another process on the same machine would
// (loopback only). Each one reproduces the attack against the real agent and expects it refused.

const md = bearer(TOKEN);
let agent: RunningAgent;
let ctl: ReturnType<typeof controller>;
/** A process that never registered: what an attacker would like the agent to kill or freeze. */
let victim: ChildProcess;

beforeAll(async () => {
  agent = await startAgent({
    listen: '127.0.0.1:0',
    token: TOKEN,
    heartbeatGraceMs: 1000,
    logger: pino({ level: 'silent' }),
  });
  ctl = controller(agent.address);
  victim = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((r) => victim.once('spawn', r));
});
afterAll(async () => {
  if (victim.exitCode === null && victim.signalCode === null) victim.kill('SIGKILL');
  ctl.client.close();
  await agent.close();
});

/**
 * Opens a Register stream with `hello` (on the shared agent with the controllers' token unless told otherwise);
 * resolves with the status it ended with, or 'welcome'.
 */
function register(
  hello: Hello,
  client = ctl.client,
  metadata: grpc.Metadata = md,
): Promise<{ code: number; details: string } | 'welcome'> {
  const call = client.register(metadata);
  return new Promise((resolve) => {
    call.on('data', (m: { welcome?: unknown }) => {
      if (m.welcome) {
        resolve('welcome');
        call.cancel();
      }
    });
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    call.write({ hello });
  });
}
const hello = (over: Partial<Hello>): Hello => ({
  name: 'user-service',
  namespace: 'default',
  labels: { app: 'user-service' },
  pid: process.pid,
  ports: [3001],
  ...over,
});

describe('the agent refuses what a caller claims about itself', () => {
  it('refuses a Hello claiming another process’s pid, audits it, and leaves that process alone', async () => {
    const answer = await register(hello({ pid: victim.pid! }));
    expect(answer).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: `Hello refused: it claims pid ${victim.pid}, but the connection belongs to pid ${process.pid}`,
    });
    expect(await ctl.targets()).toEqual([]);
    expect(agent.audit.records.at(-1)).toMatchObject({
      action: 'register',
      result: 'denied',
      target: `user-service (pid ${victim.pid})`,
    });
    expect(victim.exitCode).toBeNull();
  });

  it('refuses non-positive pids (a negative pid signals a whole process group)', async () => {
    for (const pid of [-1, 0, -process.pid]) {
      expect(await register(hello({ pid }))).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: `Hello refused: pid must be a positive integer (the service's own process), got ${pid}`,
      });
    }
  });

  it('refuses label bombs and oversized messages, and ListTargets keeps working', async () => {
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v']));
    expect(await register(hello({ labels: many }))).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'Hello refused: at most 64 labels, got 1000',
    });
    expect(await register(hello({ labels: { app: 'x'.repeat(100) } }))).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
    // 2.5 MB in one label: over the 1 MiB a message may carry, refused before it is parsed.
    expect(await register(hello({ labels: { app: 'x'.repeat(2_500_000) } }))).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
    expect(await ctl.targets()).toEqual([]);
  });

  it('registers a service whose claim the kernel confirms, with its pid verified', async () => {
    expect(await register(hello({}))).toBe('welcome');
    // The registration ends with the stream (the cancel above).
    await until(async () => (await ctl.targets()).length === 0, 3000, 'the cancelled registration to go');
  });

  it('never signals a target whose pid it could not verify (a caller in another network namespace)', async () => {
    // As a registration from a container is added: the kernel view of the connection is not ours.
    const r = agent.targets.add(
      hello({ pid: victim.pid! }),
      () => undefined,
      () => undefined,
      '172.18.0.9:40000',
      undefined,
    );
    try {
      for (const kind of ['process-kill', 'process-failure']) {
        const err = (await unary(
          ctl.client.applyFault.bind(ctl.client),
          { experimentUid: `x-${kind}`, targetId: r.target.id, kind, specJson: '{}', leaseMs: 5_000 },
          md,
        ).catch((e: unknown) => e)) as grpc.ServiceError;
        expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
        expect(err.details).toMatch(/could not be verified from its connection/);
      }
      expect(victim.exitCode).toBeNull();
      expect(victim.signalCode).toBeNull();
    } finally {
      agent.targets.remove(r.target.id);
    }
  });

  it('refuses a process the environment did not start, when told which process that is', async () => {
    // The victim did not start this test process: as the environment, it disowns us.
    const strict = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      trustedAncestor: victim.pid!,
      logger: pino({ level: 'silent' }),
    });
    const c = controller(strict.address);
    try {
      const answer = await new Promise<{ code: number; details: string }>((resolve) => {
        const call = c.client.register(md);
        call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
        call.write({ hello: hello({}) });
      });
      expect(answer).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: `Hello refused: pid ${process.pid} was not started by this environment (it does not descend from pid ${victim.pid})`,
      });
      expect(await descendsFrom(victim.pid!, process.pid)).toBe(true);
      expect(await descendsFrom(process.pid, victim.pid!)).toBe(false);
    } finally {
      c.client.close();
      await strict.close();
    }
  });

  it('refuses a lease longer than an hour', async () => {
    const err = (await unary(
      ctl.client.applyFault.bind(ctl.client),
      { experimentUid: 'long', targetId: 'any', kind: 'http-error', specJson: '{}', leaseMs: 24 * 3_600_000 },
      md,
    ).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/lease_ms must be between 1 and 3600000/);
  });
});

describe('roles: a service may only register', () => {
  it("refuses a service's token on every controller method, and the controllers' token on Register", async () => {
    const SERVICE = 'service-token-0123456789';
    const roles = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      serviceToken: SERVICE,
      logger: pino({ level: 'silent' }),
    });
    const c = controller(roles.address);
    try {
      const asService = bearer(SERVICE);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['ListTargets', () => unary(c.client.listTargets.bind(c.client), {}, asService)],
        ['ListKinds', () => unary(c.client.listKinds.bind(c.client), {}, asService)],
        [
          'ApplyFault',
          () =>
            unary(
              c.client.applyFault.bind(c.client),
              { experimentUid: 'x', targetId: 'any', kind: 'process-kill', specJson: '{}', leaseMs: 1000 },
              asService,
            ),
        ],
        ['RecoverFault', () => unary(c.client.recoverFault.bind(c.client), { experimentUid: 'x' }, asService)],
        ['ListFaults', () => unary(c.client.listFaults.bind(c.client), {}, asService)],
      ];
      for (const [method, call] of calls)
        expect(((await call().catch((e: unknown) => e)) as grpc.ServiceError).code, method).toBe(
          grpc.status.UNAUTHENTICATED,
        );
      const asController = await new Promise<number>((resolve) => {
        const stream = c.client.register(md);
        stream.on('error', (e: grpc.ServiceError) => resolve(e.code));
        stream.write({ hello: hello({}) });
      });
      expect(asController).toBe(grpc.status.UNAUTHENTICATED);
      const asServiceStream = c.client.register(asService);
      const welcomed = await new Promise<boolean>((resolve) => {
        asServiceStream.on('data', (m: { welcome?: unknown }) => resolve(Boolean(m.welcome)));
        asServiceStream.on('error', () => resolve(false));
        asServiceStream.write({ hello: hello({}) });
      });
      expect(welcomed).toBe(true);
      asServiceStream.cancel();
      await expect(
        startAgent({ listen: '127.0.0.1:0', token: TOKEN, serviceToken: TOKEN, logger: pino({ level: 'silent' }) }),
      ).rejects.toThrow(/must differ/);
    } finally {
      c.client.close();
      await roles.close();
    }
  });
});

describe('identity: a service registers only as what its environment started it as', () => {
  const SERVICE = 'service-key-0123456789abcdef';
  const user = { name: 'user-service', namespace: 'default', labels: { app: 'user-service' } };
  let strict: RunningAgent;
  let c: ReturnType<typeof controller>;
  beforeAll(async () => {
    strict = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      serviceToken: SERVICE,
      requireIdentity: true,
      logger: pino({ level: 'silent' }),
    });
    c = controller(strict.address);
  });
  afterAll(async () => {
    c.client.close();
    await strict.close();
  });

  const registerWith = (token: string, h: Hello): ReturnType<typeof register> => register(h, c.client, bearer(token));

  it('welcomes a service whose Hello is exactly the identity its token binds', async () => {
    expect(await registerWith(mintIdentityToken(SERVICE, user), hello({}))).toBe('welcome');
  });

  it("refuses user-service's credential claiming auth-service, another namespace or extra labels, and audits it", async () => {
    const token = mintIdentityToken(SERVICE, user);
    const claims: Array<[Partial<Hello>, RegExp]> = [
      [
        { name: 'auth-service', labels: { app: 'auth-service' } },
        /name "auth-service" is not the token's "user-service"/,
      ],
      [{ namespace: 'kube-system' }, /namespace "kube-system" is not the token's "default"/],
      [
        { labels: { app: 'user-service', 'chaos.mesh/safe': 'true' } },
        /label chaos.mesh\/safe=true is not the token's/,
      ],
      [{ labels: {} }, /label app=undefined is not the token's \(user-service\)/],
    ];
    for (const [over, why] of claims) {
      const answer = await registerWith(token, hello(over));
      expect(answer).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      expect((answer as { details: string }).details).toMatch(why);
      expect(strict.audit.records.at(-1)).toMatchObject({ action: 'register', result: 'denied' });
    }
    expect(await c.targets()).toEqual([]);
  });

  it('refuses the plain services’ token, a token minted with another key and a tampered one', async () => {
    const plain = await registerWith(SERVICE, hello({}));
    expect(plain).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect((plain as { details: string }).details).toMatch(/takes only identity tokens/);
    const forged = mintIdentityToken('another-key-0123456789abcdef', user);
    expect(await registerWith(forged, hello({}))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const genuine = mintIdentityToken(SERVICE, user).split('.');
    const other = mintIdentityToken(SERVICE, { ...user, name: 'auth-service' }).split('.');
    // auth-service's identity with user-service's MAC.
    const spliced = [genuine[0], other[1], genuine[2]].join('.');
    expect(await registerWith(spliced, hello({ name: 'auth-service' }))).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
  });
});

describe('peer identity from /proc', () => {
  it('encodes addresses as the kernel prints them', () => {
    expect(procNetAddress('127.0.0.1', 0xa467)).toBe('0100007F:A467');
    expect(procNetAddress('::1', 80)).toBe('00000000000000000000000001000000:0050');
    expect(procNetAddress('::ffff:127.0.0.1', 80)).toBe('0000000000000000FFFF00000100007F:0050');
    expect(parseAddress('ipv4:127.0.0.1:5000')).toEqual({ ip: '127.0.0.1', port: 5000 });
    expect(parseAddress('[::1]:5000')).toEqual({ ip: '::1', port: 5000 });
    expect(parseAddress('::ffff:127.0.0.1:5000')).toEqual({ ip: '::ffff:127.0.0.1', port: 5000 });
    expect(parseAddress('unix:/tmp/x')).toBeUndefined();
  });

  it('finds no process for a connection that does not exist', async () => {
    expect(await pidOfTcpPeer('127.0.0.1:1', 2)).toBeUndefined();
  });
});

describe('limits of what the agent keeps and signals', () => {
  it('only signals positive pids it resolved itself', () => {
    expect(() => verifiedPid('process-kill', undefined)).toThrow(/could not be verified/);
    expect(() => verifiedPid('process-kill', { peer: '', verifiedPid: -5 })).toThrow(/could not be verified/);
    expect(verifiedPid('process-kill', { peer: '', verifiedPid: 42 })).toBe(42);
  });

  it('prunes ended faults beyond the cap, oldest first', async () => {
    const noop: ProcessDriver<unknown> = {
      kind: 'test-noop',
      layer: 'process',
      description: 'test',
      parse: (s) => s,
      apply: () => lastingInjection(async () => undefined),
    };
    const targets = new TargetRegistry();
    const manager = new FaultManager({
      targets,
      metrics: new AgentMetrics(),
      drivers: new AgentDrivers([noop]),
      maxEnded: 3,
      onEvent: () => undefined,
    });
    const { target } = targets.add(
      hello({}),
      () => undefined,
      () => undefined,
      '127.0.0.1:1',
      process.pid,
    );
    for (let i = 0; i < 6; i++) {
      await manager.apply({
        experimentUid: `e${i}`,
        targetId: target.id,
        kind: 'test-noop',
        specJson: '{}',
        leaseMs: 60_000,
      });
      await manager.recover(`e${i}`);
    }
    await manager.apply({
      experimentUid: 'last',
      targetId: target.id,
      kind: 'test-noop',
      specJson: '{}',
      leaseMs: 60_000,
    });
    expect(manager.list(true).map((f) => f.experimentUid)).toEqual(['e3', 'e4', 'e5', 'last']);
    await manager.recoverAll();
  });
});
