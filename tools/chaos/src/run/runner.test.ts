import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResources } from '@nova/chaos-spec';
import type { FaultKind, Target } from '@nova/proto';
import type { ChaosEnvironment } from '@nova/stack';
import { afterAll, describe, expect, it } from 'vitest';
import type { LoadSource } from '../verdict/load.ts';
import type { Observer } from '../verdict/observe.ts';
import { ControllerAudit, policyFromEnv } from '../plan/policy.ts';
import { Runner } from './runner.ts';
import { UnsupportedLocallyError } from '../plan/translate.ts';

const dir = mkdtempSync(join(tmpdir(), 'nova-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target: Target = {
  id: 'auth-service-1-abc',
  name: 'auth-service',
  namespace: 'default',
  labels: { app: 'auth-service' },
  pid: 1234,
  ports: [8080],
  registeredAtMs: 0,
};

/** An environment whose agent offers `kinds` (as its ListKinds would answer). */
function runnerWith(kinds: string[]): Runner {
  const offered: FaultKind[] = kinds.map((kind) => ({
    kind,
    layer: 'in-process',
    description: kind,
    holdsTarget: false,
  }));
  const env = {
    name: 'local',
    layer: 'process',
    kinds: offered,
    agent: { token: 'unused: plan() calls no agent' },
    targets: async () => [target],
    dataDirOf: () => undefined,
  } as unknown as ChaosEnvironment;
  return new Runner(env, {} as LoadSource, {} as Observer, {
    runId: 'r1',
    seed: 1,
    baselineMs: 0,
    policy: policyFromEnv({}),
    audit: new ControllerAudit(join(dir, 'audit.jsonl'), 'test'),
    log: () => undefined,
    signal: new AbortController().signal,
  });
}

const parsed = parseResources(
  `
apiVersion: chaos-mesh.org/v1alpha1
kind: HTTPChaos
metadata: { name: slow-auth, namespace: default }
spec:
  mode: all
  selector: { labelSelectors: { app: auth-service } }
  target: Request
  port: 8080
  delay: 100ms
  duration: 5s
`,
  'slow-auth.yaml',
);
const delay = parsed.resources[0];

describe('planning from what the agent offers', () => {
  it('reads the fixture', () => expect(parsed.issues).toEqual([]));

  it('plans a kind the agent lists', async () => {
    const plan = await runnerWith(['http-delay']).plan(delay!.kind as never, delay!.spec, delay!);
    expect(plan.faults.map((f) => f.kind)).toEqual(['http-delay']);
  });

  it('refuses, before injecting, a kind the agent does not list, naming it and what is offered', async () => {
    const err = await runnerWith(['http-abort', 'process-kill'])
      .plan(delay!.kind as never, delay!.spec, delay!)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedLocallyError);
    expect((err as Error).message).toBe(
      'HTTPChaos/slow-auth needs the fault kind(s) http-delay, which the agent of the local environment does not offer (it offers: http-abort, process-kill)',
    );
  });
});
