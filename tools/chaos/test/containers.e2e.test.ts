import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseResources, type Resource } from '@nova/chaos-spec';
import {
  check,
  kernelState,
  requireDocker,
  startContainersEnvironment,
  type ContainersEnvironment,
} from '@nova/containers';
import { AgentConnection, FaultRuntime, parseEffect, type FaultEffect } from '@nova/faults';
import { bearer, mintIdentityToken, unary, type Fault, type Target } from '@nova/proto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGenerator, liveTargets } from '../src/verdict/load.ts';
import { Observer } from '../src/verdict/observe.ts';
import { ControllerAudit, policyFromEnv } from '../src/plan/policy.ts';
import { Runner } from '../src/run/runner.ts';

// The containers environment, for real: Docker (the workspace mounted on a locally built base image), testcontainers, the agent's Docker and
// kernel drivers. Without a Docker engine these tests fail, printing how to start one (.ci/run does).
const SUITE = fileURLToPath(new URL('../../../k8s/base/chaos-mesh/experiments/', import.meta.url));
const experiment = (file: string): Resource =>
  parseResources(readFileSync(join(SUITE, file), 'utf8'), file).resources[0]!;

const LIVENESS = { periodMs: 1_000, timeoutMs: 1_500, failureThreshold: 3 };
/** Long enough for the probes of a container that does not answer to fail failureThreshold times in a row. */
const LIVENESS_VERDICT_MS = LIVENESS.failureThreshold * (LIVENESS.periodMs + LIVENESS.timeoutMs) + 500;
let env: ContainersEnvironment;
let load: LoadGenerator;
let observer: Observer;
let runner: Runner;
const lines: string[] = [];

beforeAll(async () => {
  await requireDocker();
  const state = mkdtempSync(join(tmpdir(), 'nova-containers-'));
  env = await startContainersEnvironment({
    stateDir: state,
    onLifecycle: (e) => lines.push(`${e.instance} ${e.type}${e.type === 'exited' ? ` ${e.code}` : ''}`),
    // Shorter than the defaults (~12 s) so that the hang test finds one in seconds; still above every delay here.
    liveness: LIVENESS,
  });
  // As `chaos run` does: the URLs are read before each request, so a restarted container is followed.
  load = new LoadGenerator(liveTargets(env), { ratePerSecond: 30 });
  await load.prepare();
  observer = new Observer(
    () => env.instances.map((i) => i.url),
    () => load.now(),
  );
  observer.start();
  load.start();
  runner = new Runner(env, load, observer, {
    runId: 'containers-test',
    seed: 7,
    baselineMs: 2_000,
    policy: policyFromEnv({ CHAOS_ACTOR: 'containers-test' }),
    audit: new ControllerAudit(join(state, 'audit.jsonl'), 'containers-test'),
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  });
}, 600_000);

afterAll(async () => {
  await runner?.recoverAll();
  await load?.stop();
  observer?.stop();
  await env?.stop();
  // Stopping removes five containers: with vfs, five full file-system copies; over a minute once in CI.
}, 300_000);

/** Runs an experiment while sampling the kernel state of `container`; returns the result and the peak. */
async function runSampling(
  file: string,
  container: string,
): Promise<{
  verdict: string;
  reason: string | undefined;
  peakPackets: number;
  livePackets: number;
  sawRules: boolean;
  checks: string[];
}> {
  let peakPackets = 0;
  let livePackets = 0;
  let sawRules = false;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await kernelState(container).catch(() => undefined);
      if (s && s.tagged.length) {
        sawRules = true;
        peakPackets = Math.max(peakPackets, s.packets);
      }
      // The agent's live effect of the active fault: its counters read while the rules hold.
      const listed = await unary(env.agent.client.listFaults.bind(env.agent.client), {}, bearer(env.agent.token)).catch(
        () => ({ faults: [] }),
      );
      for (const f of listed.faults as Fault[]) {
        if (f.phase === 'injected' && f.kind.startsWith('kernel-'))
          livePackets = Math.max(livePackets, Number(parseEffect(f.effectJson)?.figures['packets'] ?? 0));
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const result = await runner.run(experiment(file));
  sampling = false;
  await sampler;
  return {
    verdict: result.verdict,
    reason: result.reason,
    peakPackets,
    livePackets,
    sawRules,
    checks: result.checks.map((c) => `${c.name}: ${c.measured} (${c.ok ? 'ok' : 'FAILED'})`),
  };
}

async function noRulesAnywhere(): Promise<void> {
  for (const i of env.instances) expect((await kernelState(env.containerOf(i.name))).tagged, i.name).toEqual([]);
}

/** Applies a fault through the agent to the service running in `container`, as the controller does. */
async function applyTo(container: string, uid: string, kind: string, spec: object, leaseMs = 30_000): Promise<void> {
  const target = (await env.targets()).find((t) => t.labels['nova.dev/container'] === container);
  if (!target) throw new Error(`no target registered from ${container}`);
  const client = env.agent.client;
  await unary(
    client.applyFault.bind(client),
    {
      experimentUid: uid,
      targetId: target.id,
      kind,
      specJson: JSON.stringify(spec),
      leaseMs,
      actor: 'containers-test',
    },
    bearer(env.agent.token),
  );
}

/** Recovers every fault of an experiment through the agent; returns the effect the agent measured for each. */
async function recover(uid: string): Promise<FaultEffect[]> {
  const client = env.agent.client;
  const { faults } = await unary(
    client.recoverFault.bind(client),
    { experimentUid: uid, actor: 'containers-test' },
    bearer(env.agent.token),
  );
  return (faults as Fault[]).map(
    (f) => parseEffect(f.effectJson) ?? { took: false, summary: `no effect recorded for ${f.id}`, figures: {} },
  );
}

// Real Docker on a shared 2-vCPU VM with vfs storage: error-count assertions under faults flaked once each in
// this session's clean-clone CI runs (TEE 3 failed calls vs ≤ 2; pod-kill's error-rate hypothesis). A test
// that fails is run once more and the failure stays in the output; a second failure fails the run.
describe('the containers environment', { retry: 1 }, () => {
  // Run after pod-kill and the grace kill, its requests to user-service-1's URL hung or were refused
  // (ECONNREFUSED) in 2 of 4 runs on 2026-12-04: the restarted container had another address, and the URL kept
  // the old one. The supervisor now reads the address again after each restart (`readdress`, tested in
  // tools/containers); the URL is read here when the test runs, and the test still runs first.
  it('bandwidth (tbf): a response from the limited container slows to the rate, and is fast again after recovery', async () => {
    const container = env.containerOf('user-service-1');
    const url = `${env.instances.find((i) => i.name === 'user-service-1')!.url}/metrics`;
    const fetchMs = async (): Promise<{ ms: number; bytes: number }> => {
      const started = performance.now();
      const res = await request(url);
      const bytes = (await res.body.arrayBuffer()).byteLength;
      return { ms: performance.now() - started, bytes };
    };
    const before = await fetchMs();
    const rate = 32 * 1024;
    await applyTo(container, 'bandwidth-test', 'kernel-bandwidth', {
      bytesPerSecond: rate,
      limitBytes: 1 << 20,
      bufferBytes: 1600,
    });
    expect((await kernelState(container)).tagged.join()).toMatch(/tbf 4e43: (dev eth0 )?root/);
    const during = await fetchMs();
    const [effect] = await recover('bandwidth-test');
    // The qdisc's own statistics: it held packets back over the rate.
    expect(effect, JSON.stringify(effect)).toMatchObject({ took: true });
    expect(effect!.figures['overlimits']).toBeGreaterThan(0);
    expect(effect!.figures['sentBytes']).toBeGreaterThan(during.bytes);
    const after = await fetchMs();
    // The body alone needs bytes / rate seconds at the limit (headers and TCP overhead come on top).
    expect(before.bytes).toBeGreaterThan(8_000);
    expect(during.ms).toBeGreaterThan(0.8 * (during.bytes / rate) * 1000);
    expect(during.ms).toBeGreaterThan(5 * before.ms);
    expect(after.ms).toBeLessThan(during.ms / 5);
    expect((await kernelState(container)).tagged).toEqual([]);
  }, 30_000);

  it('partition (nft DROP, messaging → user): packets dropped, breaker opens, fallback used; no rule left after recovery', async () => {
    const r = await runSampling('partition-messaging-user.yaml', env.containerOf('messaging-service'));
    expect(r.verdict, `${r.reason}\n${r.checks.join('\n')}\n${lines.slice(-20).join('\n')}`).toBe('pass');
    expect(r.sawRules).toBe(true);
    expect(r.peakPackets).toBeGreaterThan(0);
    // Seen live too: ListFaults showed the counters climbing while the partition held.
    expect(r.livePackets).toBeGreaterThan(0);
    expect(r.checks.some((c) => c.startsWith('breaker messaging-service->user-service: opened'))).toBe(true);
    // The evidence the verdict rests on: the nft rule's own counter, read by the agent before it deleted it.
    expect(r.checks.join('\n')).toMatch(
      /^fault took effect: kernel-partition on messaging-service: dropped [1-9]\d* packets \(nft counters in .*\) \(ok\)$/m,
    );
    await noRulesAnywhere();
  }, 120_000);

  it('loss (iptables statistic, 30 %): packets dropped, sends still succeed; no rule left after recovery', async () => {
    const r = await runSampling('network-loss-messaging-user.yaml', env.containerOf('messaging-service'));
    expect(r.verdict, `${r.reason}\n${r.checks.join('\n')}`).toBe('pass');
    expect(r.sawRules).toBe(true);
    expect(r.peakPackets).toBeGreaterThan(0);
    expect(r.livePackets).toBeGreaterThan(0);
    expect(r.checks.join('\n')).toMatch(
      /^fault took effect: kernel-loss on messaging-service: dropped [1-9]\d* packets \(iptables filter counters in .*\) \(ok\)$/m,
    );
    await noRulesAnywhere();
  }, 120_000);

  it('pod-kill (docker kill): one user-service container dies and is restarted; the other keeps serving', async () => {
    const before = lines.length;
    const result = await runner.run(experiment('pod-kill-user.yaml'));
    expect(
      result.verdict,
      `${result.reason}\n${result.checks.map((c) => `${c.name}: ${c.ok ? 'ok' : 'FAILED'} ${c.measured} (expected ${c.expected})`).join('\n')}\n${lines.slice(before).join('\n')}`,
    ).toBe('pass');
    const events = lines.slice(before).filter((l) => /^user-service-\d (exited \d+|restarted)$/.test(l));
    // gracePeriod: 0 is a SIGKILL: exit code 137.
    expect(events.some((l) => l.endsWith('exited 137'))).toBe(true);
    expect(result.checks.find((c) => c.name === 'fault took effect: container-kill on user-service')).toMatchObject({
      ok: true,
      measured: expect.stringMatching(/^container \S+ \(init pid \d+\) gone \d+ ms after SIGKILL$/),
    });
    expect(events.some((l) => l.endsWith('restarted'))).toBe(true);
    expect(env.instances.every((i) => i.running)).toBe(true);
  }, 120_000);

  it('a kill with a grace period sends SIGTERM: the service drains and exits 0 before the grace ends', async () => {
    const before = lines.length;
    await applyTo(
      env.containerOf('user-service-2'),
      'grace-test',
      'container-kill',
      { signal: 'SIGTERM', gracePeriodMs: 5_000 },
      20_000,
    );
    const deadline = Date.now() + 20_000;
    while (!lines.slice(before).includes('user-service-2 restarted') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(lines.slice(before)).toContain('user-service-2 exited 0');
    expect(lines.slice(before)).toContain('user-service-2 restarted');
    // The user containers killed so far (pod-kill's, then this one) have been restarted: each answers from this
    // host at the address Docker gave it this time, which need not be the one it started with.
    for (const url of env.urls('user')) {
      const res = await request(`${url}/healthz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      await res.body.dump();
      expect(res.statusCode, url).toBe(200);
    }
    await recover('grace-test');
    // The restarted service registers again before the next test picks targets.
    const registered = Date.now() + 15_000;
    while ((await env.targets()).length < env.instances.length && Date.now() < registered)
      await new Promise((r) => setTimeout(r, 200));
  }, 40_000);

  it('duplicate (iptables TEE): messaging → user packets are copied while calls keep succeeding; the rule goes on recovery', async () => {
    const container = env.containerOf('messaging-service');
    const errorsBefore = load.samples.filter((x) => !x.ok).length;
    const samplesBefore = load.samples.length;
    await applyTo(container, 'duplicate-test', 'kernel-duplicate', {
      percent: 100,
      peers: [env.containerOf('user-service-1'), env.containerOf('user-service-2')],
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const state = await kernelState(container);
    const effects = await recover('duplicate-test');
    expect(state.tagged.join()).toMatch(/TEE gw:/);
    expect(state.packets).toBeGreaterThan(0);
    // The agent's count (read at recovery, so at least what the sample above saw).
    expect(effects).toEqual([
      expect.objectContaining({
        took: true,
        summary: expect.stringMatching(/^copied \d+ packets \(iptables mangle counters in /),
      }),
    ]);
    expect(effects[0]!.figures['packets']).toBeGreaterThanOrEqual(state.packets);
    // Duplicated packets must not fail calls: at most 2 % of the window's calls fail (a request of the
    // previous test, the bandwidth limit, may still time out inside this window; 3 of ~120 once in CI).
    const window = load.samples.length - samplesBefore;
    const failed = load.samples.slice(samplesBefore).filter((x) => !x.ok);
    expect(
      load.samples.filter((x) => !x.ok).length - errorsBefore,
      failed.map((x) => `${x.journey} ${x.status} ${Math.round(x.latencyMs)} ms at ${x.at}`).join('\n'),
    ).toBeLessThanOrEqual(Math.max(2, Math.ceil(window * 0.02)));
    expect((await kernelState(container)).tagged).toEqual([]);
  }, 30_000);

  it('StressChaos cpu lowers the container CPU quota with docker update, and recovery removes the limit again', async () => {
    const container = env.containerOf('auth-service');
    const quota = async (): Promise<number> =>
      Number((await check('docker', ['inspect', '-f', '{{.HostConfig.CpuQuota}}', container])).trim());
    expect(await quota()).toBeLessThanOrEqual(0);
    await applyTo(container, 'stress-test', 'container-stress', { workers: 1, load: 50 });
    // The host's CPUs minus half a CPU, as a CFS quota per 100 ms period.
    expect(await quota()).toBe(Math.round((availableParallelism() - 0.5) * 100_000));
    const [effect] = await recover('stress-test');
    expect(effect).toMatchObject({ took: true, figures: { limitCpus: availableParallelism() - 0.5 } });
    expect(await quota()).toBeLessThanOrEqual(0);
  }, 30_000);

  it('pod-failure freezes the container (docker pause), its liveness probes leave it be, and recovery thaws it', async () => {
    const name = 'user-service-2';
    const container = env.containerOf(name);
    const url = env.instances.find((i) => i.name === name)!.url;
    const healthz = (): Promise<number | string> =>
      request(`${url}/healthz`, { headersTimeout: 800, bodyTimeout: 800 }).then(
        async (r) => (await r.body.dump(), r.statusCode),
        (e: Error) => e.name,
      );
    const before = lines.length;
    await applyTo(container, 'pause-test', 'container-pause', {});
    const appliedAt = performance.now();
    expect((await check('docker', ['inspect', '-f', '{{.State.Paused}}', container])).trim()).toBe('true');
    expect(await healthz()).toBe('HeadersTimeoutError');
    // Paused long enough for its liveness probes to give up on it, were it not held by the fault on purpose.
    await new Promise((r) => setTimeout(r, LIVENESS_VERDICT_MS));
    expect(lines.slice(before).filter((l) => l.startsWith(`${name} `))).toEqual([]);
    // The agent's figure spans at least what we saw from here: from the apply's answer to the recover call
    // (undici's header timer is coarse, so the 800 ms it was given is not a floor).
    const sawPausedMs = performance.now() - appliedAt;
    const [effect] = await recover('pause-test');
    expect(effect).toMatchObject({ took: true, figures: { seenPaused: 1 } });
    expect(sawPausedMs).toBeGreaterThan(300);
    expect(effect!.figures['pausedMs']).toBeGreaterThanOrEqual(Math.floor(sawPausedMs));
    expect((await check('docker', ['inspect', '-f', '{{.State.Paused}}', container])).trim()).toBe('false');
    expect(await healthz()).toBe(200);
  }, 30_000);

  it('a hung container (its process SIGSTOPped, not paused) fails its liveness probes and is stopped and restarted', async () => {
    const name = 'user-service-2';
    const container = env.containerOf(name);
    const before = lines.length;
    await check('docker', ['kill', '--signal', 'STOP', container]);
    const started = Date.now();
    while (!lines.slice(before).includes(`${name} restarted`)) {
      if (Date.now() - started > 40_000) throw new Error(`not restarted:\n${lines.slice(before).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const events = lines.slice(before).filter((l) => l.startsWith(`${name} `));
    // docker stop: the pending SIGTERM never acted on, SIGKILL after the grace: 137.
    expect(events).toEqual([`${name} unresponsive`, `${name} exited 137`, `${name} restarted`]);
    expect(env.instances.find((i) => i.name === name)!.running).toBe(true);
    const res = await request(`${env.instances.find((i) => i.name === name)!.url}/healthz`);
    await res.body.dump();
    expect(res.statusCode).toBe(200);
  }, 60_000);

  it('refuses a Docker-level fault for a target whose control stream does not come from its container', async () => {
    const md = bearer(env.agent.token);
    const client = env.agent.client;
    const victim = env.containerOf('messaging-service');
    // An impostor on the host registers claiming the messaging container as its own.
    // It even holds an identity token for that claim (as if it had the environment's key): the container check
    // must refuse it all the same.
    const impostor = new AgentConnection({
      address: env.agent.address,
      token: mintIdentityToken(env.agent.serviceToken, {
        name: 'impostor',
        namespace: 'default',
        labels: { app: 'impostor', 'nova.dev/container': victim },
      }),
      runtime: new FaultRuntime(),
      hello: {
        name: 'impostor',
        namespace: 'default',
        labels: { app: 'impostor', 'nova.dev/container': victim },
        pid: process.pid,
        ports: [],
      },
    });
    impostor.start();
    try {
      let target: Target | undefined;
      for (let i = 0; i < 50 && !target; i++) {
        target = (await env.targets()).find((t) => t.name === 'impostor');
        if (!target) await new Promise((r) => setTimeout(r, 100));
      }
      const error = (await unary(
        client.applyFault.bind(client),
        {
          experimentUid: 'impostor',
          targetId: target!.id,
          kind: 'container-kill',
          specJson: '{}',
          leaseMs: 5_000,
          actor: 'containers-test',
        },
        md,
      ).catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(/registered from [\d.]+, which is not an address of container/);
      expect((await check('docker', ['inspect', '-f', '{{.State.Running}}', victim])).trim()).toBe('true');
    } finally {
      await impostor.stop();
    }
  }, 30_000);

  it('an agent SIGKILLed mid-partition leaves its rules (nft, iptables, tc); the restarted agent removes them at start', async () => {
    const md = bearer(env.agent.token);
    const client = env.agent.client;
    const targets = await env.targets();
    const messaging = targets.find((t) => t.labels['app'] === 'messaging-service')!;
    const container = env.containerOf('messaging-service');
    const peers = [env.containerOf('user-service-1'), env.containerOf('user-service-2')];
    // One of each kind of tagged rule: an nft table, iptables rules, a tc qdisc.
    const planted = [
      { kind: 'kernel-partition', spec: { direction: 'to', peers } },
      { kind: 'kernel-loss', spec: { direction: 'both', peers, percent: 1 } },
      { kind: 'kernel-bandwidth', spec: { bytesPerSecond: 50 * 1024 * 1024 } },
    ];
    for (const f of planted) {
      await unary(
        client.applyFault.bind(client),
        {
          experimentUid: 'agent-crash',
          targetId: messaging.id,
          kind: f.kind,
          specJson: JSON.stringify(f.spec),
          leaseMs: 60_000,
          actor: 'containers-test',
        },
        md,
      );
    }
    // nft table + 2 peers × 2 directions of iptables rules + the qdisc.
    const tagged = (await kernelState(container)).tagged;
    expect(tagged, tagged.join('\n')).toHaveLength(6);

    // SIGKILL: the agent cannot recover anything itself. Its supervisor starts it again on its address, and
    // the new agent's journal recovers what the dead one had applied.
    const restarted = env.agentRestarted();
    env.agentProcess.kill('SIGKILL');
    await restarted;
    expect((await kernelState(container)).tagged).toEqual([]);
    const { faults } = await unary(client.listFaults.bind(client), {}, md);
    expect((faults as Fault[]).length).toBe(0);
    // The services find the new agent again (their control streams reconnect).
    const deadline = Date.now() + 15_000;
    while ((await env.targets().catch(() => [])).length < env.instances.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect((await env.targets()).length).toBe(env.instances.length);
  }, 60_000);

  it("PostgreSQL's container hung (its postmaster SIGSTOPped) fails its liveness probes, is stopped and restarted", async () => {
    const before = lines.length;
    await check('docker', ['kill', '--signal', 'STOP', `${env.runId}-postgres`]);
    const deadline = Date.now() + 60_000;
    while (!lines.slice(before).includes('postgresql restarted') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    expect(lines.slice(before).filter((l) => l.startsWith('postgresql '))).toEqual([
      'postgresql unresponsive',
      'postgresql exited 137',
      'postgresql restarted',
    ]);
    // Reads work again (the services' pools drop the old connections).
    let status = 0;
    const until = Date.now() + 30_000;
    while (status !== 200 && Date.now() < until) {
      const res = await request(`${env.urls('user')[0]}/users/${load.accounts[0]!.id}`).catch(() => undefined);
      status = res?.statusCode ?? 0;
      await res?.body.dump();
      if (status !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(status).toBe(200);
  }, 120_000);

  it("PostgreSQL's container SIGKILLed is restarted with its data, reported as postgresql, and reads work again", async () => {
    const before = lines.length;
    const account = load.accounts[0]!;
    await check('docker', ['kill', '--signal', 'KILL', `${env.runId}-postgres`]);
    const deadline = Date.now() + 60_000;
    while (!lines.slice(before).includes('postgresql restarted') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    expect(lines.slice(before)).toEqual(expect.arrayContaining(['postgresql exited 137', 'postgresql restarted']));
    // The services lived through it: their pools dropped the dead connections (they used to crash on them).
    expect(lines.slice(before).filter((l) => /-service(-\d)? exited/.test(l))).toEqual([]);
    // The account created before the kill is read back: the restarted container kept its data.
    let status = 0;
    let body = '';
    const until = Date.now() + 30_000;
    while (status !== 200 && Date.now() < until) {
      const res = await request(`${env.urls('user')[0]}/users/${account.id}`).catch(() => undefined);
      status = res?.statusCode ?? 0;
      body = (await res?.body.text()) ?? '';
      if (status !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    expect(status, `${body}\n${JSON.stringify(account)}\n${lines.slice(before).join('\n')}`).toBe(200);
  }, 120_000);
});
