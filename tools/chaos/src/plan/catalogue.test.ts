import { parseResources, seededRandom, type ChaosResource } from '@nova/chaos-spec';
import { FAULT_CATALOGUE, FaultSpecError, faultKind, type FaultKindEntry } from '@nova/faults';
import type { Target } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { planChaos, UnsupportedLocallyError, type PlanLayer } from './translate.ts';

// The planners against the fault catalogue, as a model: for one manifest of every Chaos Mesh action we
// honour, in every environment, each planned kind's catalogue entry must list that action; and every
// (kind, action) pair the catalogue lists must be planned by some manifest in some environment. A planner
// that starts emitting a kind for a new action, or a catalogue entry that promises one nobody plans, fails.

const t = (id: string, app: string): Target => ({
  id,
  name: app,
  namespace: 'default',
  labels: { app, 'nova.dev/container': `run-${id}` },
  pid: 1,
  ports: [],
  registeredAtMs: 0,
});
const targets = [t('user-0', 'user-service'), t('auth-0', 'auth-service'), t('msg-0', 'messaging-service')];
const sel = (app: string, mode = 'one'): string => `mode: ${mode}\nselector:\n  labelSelectors:\n    app: ${app}`;
const toUsers = `target:\n  ${sel('user-service', 'all').replace(/\n/g, '\n  ')}`;
const msg = sel('messaging-service');

/** One manifest per Chaos Mesh source: [source, kind, spec]. */
const SAMPLES: Array<[string, string, string]> = [
  ['NetworkChaos/delay', 'NetworkChaos', `action: delay\n${msg}\ndelay:\n  latency: 50ms`],
  ['NetworkChaos/delay', 'NetworkChaos', `action: delay\n${msg}\ndelay:\n  latency: 50ms\n${toUsers}`],
  ['NetworkChaos/loss', 'NetworkChaos', `action: loss\n${msg}\nloss:\n  loss: "20"`],
  ['NetworkChaos/loss', 'NetworkChaos', `action: loss\n${msg}\nloss:\n  loss: "20"\n${toUsers}`],
  ['NetworkChaos/partition', 'NetworkChaos', `action: partition\n${msg}\n${toUsers}`],
  [
    'NetworkChaos/bandwidth',
    'NetworkChaos',
    `action: bandwidth\n${msg}\nbandwidth:\n  rate: 1mbps\n  limit: 20000\n  buffer: 10000\n${toUsers}`,
  ],
  ['NetworkChaos/duplicate', 'NetworkChaos', `action: duplicate\n${msg}\nduplicate:\n  duplicate: "30"\n${toUsers}`],
  ['NetworkChaos/corrupt', 'NetworkChaos', `action: corrupt\n${msg}\ncorrupt:\n  corrupt: "30"\n${toUsers}`],
  ['PodChaos/pod-kill', 'PodChaos', `action: pod-kill\n${msg}`],
  ['PodChaos/container-kill', 'PodChaos', `action: container-kill\ncontainerNames: [messaging]\n${msg}`],
  ['PodChaos/pod-failure', 'PodChaos', `action: pod-failure\n${msg}\nduration: 10s`],
  ['StressChaos/cpu', 'StressChaos', `${msg}\nstressors:\n  cpu:\n    workers: 1\n    load: 50`],
  ['StressChaos/memory', 'StressChaos', `${msg}\nstressors:\n  memory:\n    workers: 1\n    size: 64MB`],
  ['IOChaos/latency', 'IOChaos', `action: latency\n${msg}\nvolumePath: /var/lib/nova\ndelay: 50ms`],
  ['IOChaos/fault', 'IOChaos', `action: fault\n${msg}\nvolumePath: /var/lib/nova\nerrno: 5`],
  ['HTTPChaos/abort', 'HTTPChaos', `${msg}\ntarget: Request\nport: 3003\nabort: true`],
  ['HTTPChaos/delay', 'HTTPChaos', `${msg}\ntarget: Request\nport: 3003\ndelay: 50ms`],
  ['HTTPChaos/replace', 'HTTPChaos', `${msg}\ntarget: Request\nport: 3003\nreplace:\n  code: 503`],
  ['HTTPChaos/replace', 'HTTPChaos', `${msg}\ntarget: Response\nport: 3003\nreplace:\n  code: 418`],
  ['HTTPChaos/patch', 'HTTPChaos', `${msg}\ntarget: Response\nport: 3003\npatch:\n  headers: [[x-a, "1"]]`],
  ['TimeChaos', 'TimeChaos', `${msg}\ntimeOffset: 10m`],
  ['DNSChaos/error', 'DNSChaos', `action: error\n${msg}\npatterns: [user-service]`],
  ['DNSChaos/random', 'DNSChaos', `action: random\n${msg}\npatterns: [user-service]`],
];

const ENVIRONMENTS: Array<[string, PlanLayer | undefined]> = [
  ['local', undefined],
  ['containers', { layer: 'container', netem: false }],
  ['containers with netem', { layer: 'container', netem: true }],
];

function resource(kind: string, spec: string): ChaosResource {
  const text = `apiVersion: chaos-mesh.org/v1alpha1\nkind: ${kind}\nmetadata:\n  name: t\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
  const r = parseResources(text, 't.yaml');
  expect(r.issues).toEqual([]);
  return r.resources[0] as ChaosResource;
}

function plannedKinds(kind: string, spec: string, layer: PlanLayer | undefined): string[] | undefined {
  const r = resource(kind, spec);
  try {
    const plan = planChaos(r.kind, r.spec, targets, seededRandom(1), {
      namespace: 'default',
      defaultDurationMs: 10_000,
      dataDirOf: (x) => `/tmp/data/${x.id}`,
      ...(layer ? { layer } : {}),
    });
    return plan.faults.map((f) => f.kind);
  } catch (error) {
    // An action an environment refuses (bandwidth without netem's peers...) plans nothing there.
    if (error instanceof UnsupportedLocallyError) return undefined;
    throw error;
  }
}

describe('the planners and the fault catalogue', () => {
  for (const [source, kind, spec] of SAMPLES) {
    for (const [env, layer] of ENVIRONMENTS) {
      it(`${source} in ${env} plans only kinds the catalogue maps from it`, () => {
        const kinds = plannedKinds(kind, spec, layer);
        for (const k of kinds ?? []) {
          expect(faultKind(k).chaosMesh, `${k} from ${source}`).toContain(source);
        }
      });
    }
  }

  it('plans every (kind, action) pair the catalogue lists from some manifest in some environment', () => {
    const seen = new Set<string>();
    for (const [source, kind, spec] of SAMPLES)
      for (const [, layer] of ENVIRONMENTS)
        for (const k of plannedKinds(kind, spec, layer) ?? []) seen.add(`${k} ← ${source}`);
    const promised = (Object.values(FAULT_CATALOGUE) as FaultKindEntry[]).flatMap((e) =>
      e.chaosMesh.map((source) => `${e.kind} ← ${source}`),
    );
    expect(promised.filter((p) => !seen.has(p))).toEqual([]);
  });

  it('refuses at plan time a translated spec its kind would refuse, naming the Chaos Mesh kind', () => {
    const r = resource('NetworkChaos', `action: delay\n${msg}\ndelay:\n  latency: 20m`);
    const plan = (): unknown =>
      planChaos(r.kind, r.spec, targets, seededRandom(1), {
        namespace: 'default',
        defaultDurationMs: 10_000,
        dataDirOf: () => undefined,
      });
    expect(plan).toThrow(FaultSpecError);
    expect(plan).toThrow(
      /http-delay: spec.latencyMs must be a number between 0 and 600000.*planned from a NetworkChaos/,
    );
  });
});
