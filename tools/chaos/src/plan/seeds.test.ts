import { readFileSync } from 'node:fs';
import { parseResources, seededRandom, type ChaosResource } from '@nova/chaos-spec';
import { FaultRuntime, type OutboundFacts, type RequestFacts } from '@nova/faults';
import type { Target } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { faultSeed, seedFaults } from './seeds.ts';
import { planChaos } from './translate.ts';

// The default suite's loss and abort experiments, as `chaos run` reads them.
const suite = (file: string): ChaosResource =>
  parseResources(
    readFileSync(new URL(`../../../../k8s/base/chaos-mesh/experiments/${file}`, import.meta.url), 'utf8'),
    file,
  ).resources[0] as ChaosResource;
const EXPERIMENTS = [suite('network-loss-messaging-user.yaml'), suite('http-abort-user.yaml')];

/** The local layout, with ids (they hold a PID) that differ from run to run, as real target ids do. */
function targets(run: number): Target[] {
  const t = (app: string, i: number): Target => ({
    id: `${app}-${run}${i}-x`,
    name: app,
    namespace: 'default',
    labels: { app, 'chaos.mesh/safe': 'true' },
    pid: run * 10 + i,
    ports: [3001],
    registeredAtMs: 0,
  });
  return [t('user-service', 0), t('user-service', 1), t('auth-service', 2), t('messaging-service', 3)];
}

/** A recorded request sequence: what the load sent, in order (paths, methods), replayed into each run. */
const random = seededRandom(2024);
const RECORDED: RequestFacts[] = Array.from({ length: 600 }, () => ({
  path: random() < 0.7 ? `/users/${Math.floor(random() * 1e6)}` : '/messages',
  method: random() < 0.8 ? 'GET' : 'POST',
  port: 3001,
  header: () => undefined,
}));

/** One `chaos run --seed <seed>`: plans, seeds and applies each experiment, feeds it the recorded requests. */
async function run(seed: number, runNumber: number): Promise<Record<string, number>> {
  const log: Record<string, number> = {};
  for (const r of EXPERIMENTS) {
    const plan = planChaos(r.kind, r.spec, targets(runNumber), seededRandom(seed), {
      namespace: 'default',
      defaultDurationMs: 8_000,
      dataDirOf: () => undefined,
    });
    for (const [i, f] of seedFaults(plan.faults, seed, r.metadata.name).entries()) {
      const runtime = new FaultRuntime();
      await runtime.apply('f', f.kind, f.spec, 60_000);
      for (const facts of RECORDED) {
        // Through the same rules the fastify plugin (inbound) and the undici interceptor (outbound) consult.
        if (f.kind.startsWith('net-')) {
          const out: OutboundFacts = { ...facts, upstream: 'user-service', origin: 'http://127.0.0.1:3001' };
          for (const rule of runtime.outbound.rules) if (rule.matches(out)) rule.effect();
        } else for (const rule of runtime.inbound.rules) if (rule.matches(facts)) rule.effect();
      }
      await runtime.recover('f');
      log[`${r.metadata.name}/${f.target.name}/${i}/${f.kind}`] = runtime.effect('f')!.figures['decisionHash']!;
    }
  }
  return log;
}

describe('exact replay: one seed drives every random draw of a run', () => {
  it('two runs with --seed 42 make the same per-request decisions on the same requests; another seed does not', async () => {
    const first = await run(42, 1);
    const second = await run(42, 2);
    expect(Object.keys(first)).toEqual([
      'network-loss-messaging-user/messaging-service/0/net-reset',
      'http-abort-user/user-service/0/http-abort',
    ]);
    expect(second).toEqual(first);
    const other = await run(43, 3);
    // The loss draws 30 % of the calls: a different seed draws differently. The abort takes every matching
    // request (no percent), so it decides the same whatever the seed.
    expect(other['network-loss-messaging-user/messaging-service/0/net-reset']).not.toBe(
      first['network-loss-messaging-user/messaging-service/0/net-reset'],
    );
    expect(other['http-abort-user/user-service/0/http-abort']).toBe(first['http-abort-user/user-service/0/http-abort']);
  });

  it('gives each fault of a kind that draws randomly its own seed, and keeps a seed the spec set', () => {
    const [user0, user1] = targets(1);
    const faults = seedFaults(
      [
        { target: user0!, kind: 'net-reset', spec: { percent: 30 } },
        { target: user1!, kind: 'net-reset', spec: { percent: 30 } },
        { target: user0!, kind: 'net-partition', spec: { target: 'auth-service' } },
        { target: user0!, kind: 'http-error', spec: { seed: 7 } },
      ],
      42,
      'exp',
    );
    expect(faults.map((f) => f.spec['seed'])).toEqual([
      faultSeed(42, 'exp', 'user-service', 0, 'net-reset'),
      faultSeed(42, 'exp', 'user-service', 1, 'net-reset'),
      undefined,
      7,
    ]);
    expect(faults[0]!.spec['seed']).not.toBe(faults[1]!.spec['seed']);
  });
});
