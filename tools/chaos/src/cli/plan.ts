import { seededRandom, type Resource, type SelectorSpec } from '@nova/chaos-spec';
import { bearer, createAgentClient, TARGET_LABELS, unary, type Target } from '@nova/proto';
import { coreClient, planOnCluster } from '../k8s/cluster-plan.ts';
import { policyFromEnv } from '../plan/policy.ts';
import { planChaos } from '../plan/translate.ts';
import { load, readUpState } from './common.ts';

/** `chaos plan`: which services each selector matches, without starting anything. */
/** The local environment's targets, as they register (for planning without starting anything). */
export function staticTargets(): Target[] {
  const t = (id: string, app: string, pid: number): Target => ({
    id,
    name: app,
    namespace: 'default',
    labels: { app, tier: 'backend', [TARGET_LABELS.safe]: 'true' },
    pid,
    ports: [],
    registeredAtMs: 0,
  });
  return [
    t('user-service-0', 'user-service', 1),
    t('user-service-1', 'user-service', 2),
    t('auth-service-0', 'auth-service', 3),
    t('messaging-service-0', 'messaging-service', 4),
  ];
}

/**
 * `chaos plan --env k8s`: the pods each selector matches on the cluster of `$KUBECONFIG` (selectors evaluated by
 * the API server; namespaces outside ALLOWED_NAMESPACES are not listed). Exit 1 when one is refused.
 */
export async function planK8s(paths: string[]): Promise<number> {
  const resources = load(paths);
  const { core, server, context } = coreClient();
  const policy = policyFromEnv();
  console.log(
    `Blast radius on the cluster ${server} (context ${context})${policy.allowedNamespaces ? `, namespaces allowed: ${policy.allowedNamespaces.join(', ')}` : ''}:`,
  );
  let bad = 0;
  for (const e of await planOnCluster(resources, core, policy, seededRandom(1))) {
    const where = e.query
      ? `${e.query.namespaces.join(',') || '(no namespace allowed)'}${e.query.labelSelector ? ` -l ${e.query.labelSelector}` : ''}${e.query.fieldSelector ? ` --field-selector ${e.query.fieldSelector}` : ''}`
      : '';
    if (e.error !== undefined) {
      bad++;
      console.log(`  ${e.label}: REFUSED: ${e.error}`);
      continue;
    }
    const pods = e.matching.map((p) => `${p.namespace}/${p.name} (${p.phase})`).join(', ') || 'no pod';
    console.log(`  ${e.label}: ${where} → ${e.matching.length} pod(s): ${pods}; mode picks ${e.selected.length}`);
    if (e.objections.length) {
      bad++;
      for (const o of e.objections) console.log(`    REFUSED: ${o}`);
    }
  }
  return bad ? 1 : 0;
}

export async function plan(paths: string[], env?: string): Promise<number> {
  if ((env ?? process.env['CHAOS_ENV']) === 'k8s') return planK8s(paths);
  const resources = load(paths);
  const up = readUpState();
  let targets = staticTargets();
  if (up) {
    const client = createAgentClient(up.agent);
    targets = (await unary(client.listTargets.bind(client), {}, bearer(up.token))).targets;
    client.close();
  }
  console.log(
    `Blast radius against ${up ? `the running environment (${targets.length} targets)` : 'the local environment layout (not started)'}:`,
  );
  const random = seededRandom(1);
  let bad = 0;
  const show = (label: string, kind: Resource['kind'], spec: Record<string, unknown>, durationMs?: number): void => {
    try {
      const p = planChaos(kind as never, spec as Record<string, unknown> & SelectorSpec, targets, random, {
        namespace: 'default',
        defaultDurationMs: 10_000,
        dataDirOf: () => '/var/lib/nova',
        ...(durationMs ? { durationMs } : {}),
      });
      console.log(
        `  ${label}: matches ${p.matching.map((t) => t.id).join(', ')}; mode picks ${p.selected.length}; faults: ${[...new Set(p.faults.map((f) => f.kind))].join(', ')}; ${p.durationMs / 1000} s`,
      );
    } catch (e) {
      bad++;
      console.log(`  ${label}: REFUSED: ${(e as Error).message}`);
    }
  };
  for (const r of resources) {
    if (r.kind === 'Workflow')
      for (const t of r.spec.templates) {
        const block = Object.keys(t).find((k) => k.endsWith('Chaos'));
        if (block)
          show(`Workflow/${r.metadata.name} › ${t.name}`, t.templateType as never, t[block] as Record<string, unknown>);
      }
    else if (r.kind === 'Schedule') console.log(`  Schedule/${r.metadata.name}: ${r.spec.schedule} (${r.spec.type})`);
    else show(`${r.kind}/${r.metadata.name}`, r.kind, r.spec as Record<string, unknown>);
  }
  return bad ? 1 : 0;
}
