import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { blockName, selectTargets, type Resource, type Selectable, type SelectorSpec } from '@nova/chaos-spec';
import { checkPolicy, type SafetyPolicy } from '../plan/policy.ts';
import { podQuery, type PodQuery } from './selector.ts';

/** A pod as the plan shows it. */
export interface ClusterPod extends Selectable {
  /** `status.phase`: Pending, Running… */
  phase: string;
}

/** The blast radius of one selector on the cluster. */
export interface ClusterPlanEntry {
  /** `Kind/name`, or `Workflow/name › template`; `(target)` for a NetworkChaos target selector. */
  label: string;
  query?: PodQuery;
  /** Pods the API server matched (label and field selectors evaluated by the server). */
  matching: ClusterPod[];
  /** Those the mode picks (one draw of it: `one`, `fixed`… pick at random each run). */
  selected: ClusterPod[];
  /** Why the safety policy refuses it (namespaces outside the allowlist, targets without the safe label). */
  objections: string[];
  /** The API server's refusal or a selector that cannot be planned. */
  error?: string;
}

/** A CoreV1 client from `kubeconfig` (a file), else `$KUBECONFIG` / `~/.kube/config` / in-cluster. */
export function coreClient(kubeconfig?: string): { core: CoreV1Api; server: string; context: string } {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return {
    core: kc.makeApiClient(CoreV1Api),
    server: kc.getCurrentCluster()?.server ?? '?',
    context: kc.currentContext,
  };
}

const toPod = (p: V1Pod): ClusterPod => ({
  id: p.metadata?.name ?? '',
  name: p.metadata?.name ?? '',
  namespace: p.metadata?.namespace ?? '',
  labels: p.metadata?.labels ?? {},
  phase: p.status?.phase ?? 'Unknown',
});

/** Lists the pods a query matches, asking the API server to evaluate its selectors. */
export async function listPods(core: CoreV1Api, q: PodQuery): Promise<ClusterPod[]> {
  const out: ClusterPod[] = [];
  for (const namespace of q.namespaces) {
    const list = await core.listNamespacedPod({
      namespace,
      ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}),
      ...(q.fieldSelector ? { fieldSelector: q.fieldSelector } : {}),
    });
    for (const p of list.items) {
      const annotations = p.metadata?.annotations ?? {};
      if (Object.entries(q.annotations).some(([k, v]) => annotations[k] !== v)) continue;
      if (q.pods && !(q.pods[namespace] ?? []).includes(p.metadata?.name ?? '')) continue;
      out.push(toPod(p));
    }
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Every selector of a resource: the chaos spec, each chaos template of a Workflow, a Schedule's embedded chaos. */
function selectorsOf(r: Resource): Array<{ label: string; spec: SelectorSpec & Record<string, unknown> }> {
  const name = `${r.kind}/${r.metadata.name}`;
  const out: Array<{ label: string; spec: SelectorSpec & Record<string, unknown> }> = [];
  const add = (label: string, spec: Record<string, unknown> | undefined): void => {
    if (!spec) return;
    out.push({ label, spec: spec as SelectorSpec & Record<string, unknown> });
    // NetworkChaos's `target` is a second selector (HTTPChaos's is the string Request or Response).
    const target = spec['target'];
    if (typeof target === 'object' && target !== null && 'selector' in target) {
      out.push({ label: `${label} (target)`, spec: target as SelectorSpec & Record<string, unknown> });
    }
  };
  if (r.kind === 'Workflow') {
    for (const t of r.spec.templates) {
      const block = Object.keys(t).find((k) => k.endsWith('Chaos'));
      if (block) add(`${name} › ${t.name}`, t[block] as Record<string, unknown>);
    }
  } else if (r.kind === 'Schedule') {
    add(name, r.spec[blockName(r.spec.type)] as Record<string, unknown> | undefined);
  } else add(name, r.spec as Record<string, unknown>);
  return out;
}

function apiError(error: unknown): string {
  const e = error as { code?: number; body?: unknown; message?: string };
  let reason = e.message ?? String(error);
  try {
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : undefined;
    if (body?.message) reason = body.message;
  } catch {
    // not JSON: keep the message
  }
  return e.code === 403 ? `the API server refused (RBAC): ${reason}` : reason;
}

/**
 * The blast radius of each experiment on a cluster: for every selector, the pods the API server matches in
 * the namespaces it names (namespaces outside the safety policy's allowlist are not listed at all), the ones
 * the mode picks (drawn with `random`), and the policy's objections.
 */
export async function planOnCluster(
  resources: readonly Resource[],
  core: CoreV1Api,
  policy: SafetyPolicy,
  random: () => number,
): Promise<ClusterPlanEntry[]> {
  const entries: ClusterPlanEntry[] = [];
  for (const r of resources) {
    for (const { label, spec } of selectorsOf(r)) {
      const entry: ClusterPlanEntry = { label, matching: [], selected: [], objections: [] };
      entries.push(entry);
      let q: PodQuery;
      try {
        q = podQuery(spec.selector, r.metadata.namespace);
      } catch (error) {
        entry.error = (error as Error).message;
        continue;
      }
      entry.query = q;
      const allowed = policy.allowedNamespaces;
      const denied = allowed ? q.namespaces.filter((n) => !allowed.includes(n)) : [];
      if (denied.length > 0) {
        entry.objections.push(
          `selector.namespaces has ${denied.join(', ')}, outside ALLOWED_NAMESPACES (${allowed!.join(', ')}): not listed`,
        );
        q = { ...q, namespaces: q.namespaces.filter((n) => !denied.includes(n)) };
      }
      try {
        entry.matching = await listPods(core, q);
      } catch (error) {
        entry.error = apiError(error);
        continue;
      }
      entry.selected = selectTargets(spec, entry.matching, random, r.metadata.namespace).selected;
      // The actor is not needed to look; the rest of the policy (safe label, production profile) is said.
      const objections = checkPolicy(r, entry.selected, {
        ...policy,
        securityMode: false,
        allowedNamespaces: undefined,
      });
      entry.objections.push(...objections.map((o) => o.slice(o.indexOf(': ') + 2)));
    }
  }
  return entries;
}
