/**
 * Test doubles for the API's tests (not used by the API itself): a runner that plans one fault on one target
 * and records what it was asked to do, so the HTTP layer, the experiment state machine and the Schedule
 * controller can be driven without an agent.
 */
import type { Fault, Target } from '@nova/proto';
import type { Runner } from '../run/runner.ts';
import type { ChaosPlan } from '../plan/translate.ts';

export const target: Target = {
  id: 'user-0',
  name: 'user-service',
  namespace: 'default',
  labels: { app: 'user-service' },
  pid: 1,
  ports: [],
  registeredAtMs: 0,
};

/** What a {@link fakeRunner} was asked: inject and recover calls by experiment uid, in order. */
export interface RunnerCalls {
  calls: Array<{ op: 'inject' | 'recover'; uid: string; durationMs?: number }>;
}

/** A runner whose recovery answers as `recover` says (the agent's records of the experiment's faults). */
export function fakeRunner(recover: (uid: string) => Promise<Fault[]> = async () => []): Runner & RunnerCalls {
  const calls: RunnerCalls['calls'] = [];
  return {
    calls,
    plan: async (kind: ChaosPlan['kind'], spec: Record<string, unknown>): Promise<ChaosPlan> => ({
      kind,
      matching: [target],
      selected: [target],
      faults: [{ target, kind: 'http-error', spec: { status: 503 } }],
      durationMs: Number.parseInt(String(spec['duration'] ?? '1s'), 10) * 1000,
      notes: [],
    }),
    inject: async (uid: string, plan: ChaosPlan) => {
      calls.push({ op: 'inject', uid, durationMs: plan.durationMs });
    },
    activeFaults: async () => [],
    recover: async (uid: string) => {
      calls.push({ op: 'recover', uid });
      return recover(uid);
    },
  } as unknown as Runner & RunnerCalls;
}

/** An HTTPChaos abort on user-service lasting `duration` (`1s`, `60s`), as YAML. */
export function httpAbortYaml(duration: string, name = 'short'): string {
  return [
    'apiVersion: chaos-mesh.org/v1alpha1',
    'kind: HTTPChaos',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  mode: one',
    '  selector:',
    '    labelSelectors:',
    '      app: user-service',
    '  target: Request',
    '  port: 3001',
    '  abort: true',
    `  duration: ${duration}`,
  ].join('\n');
}
