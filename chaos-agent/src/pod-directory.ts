import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Hello } from '@nova/proto';

/** What the API server says of a pod on this node: the facts a service's `Hello` is checked against. */
export interface PodFacts {
  uid: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/** Finds the pods of this node by UID. */
export interface PodDirectory {
  /** The pod with this UID on this node, or undefined when the API server knows none. */
  pod(uid: string): Promise<PodFacts | undefined>;
}

/** Options of {@link KubePodDirectory}. */
export interface KubePodDirectoryOptions {
  /** The node this agent runs on (the DaemonSet sets `NODE_NAME` from `spec.nodeName`). */
  nodeName: string;
  /** A kubeconfig file; without it, the pod's in-cluster ServiceAccount. */
  kubeconfig?: string;
  /** How long a listing answers lookups before the next one, in ms. Default 1 000. */
  refreshMs?: number;
}

/**
 * This node's pods as the API server lists them (`spec.nodeName=<node>`, read-only: `list pods`). A listing
 * answers lookups for `refreshMs`, then the next lookup lists again (once at a time): a registration sees a pod's
 * labels as they were at most `refreshMs` ago, and a caller registering over and over cannot make the agent
 * list more than once per period.
 */
export class KubePodDirectory implements PodDirectory {
  private readonly core: CoreV1Api;
  private pods = new Map<string, PodFacts>();
  private listedAt = Number.NEGATIVE_INFINITY;
  private listing: Promise<void> | undefined;

  constructor(private readonly options: KubePodDirectoryOptions) {
    const config = new KubeConfig();
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromCluster();
    this.core = config.makeApiClient(CoreV1Api);
  }

  async pod(uid: string): Promise<PodFacts | undefined> {
    // A listing older than the period is taken again, hit or miss: a pod's labels may have changed since.
    if (Date.now() - this.listedAt >= (this.options.refreshMs ?? 1_000))
      this.listing ??= this.list().finally(() => (this.listing = undefined));
    if (this.listing) await this.listing;
    return this.pods.get(uid);
  }

  private async list(): Promise<void> {
    const list = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.options.nodeName}` });
    const pods = new Map<string, PodFacts>();
    for (const p of list.items) {
      const m = p.metadata;
      if (!m?.uid || !m.name || !m.namespace) continue;
      pods.set(m.uid, { uid: m.uid, namespace: m.namespace, name: m.name, labels: m.labels ?? {} });
    }
    this.pods = pods;
    this.listedAt = Date.now();
  }
}

/**
 * Where a `Hello` disagrees with the pod its connection comes from, or undefined: its namespace must be the
 * pod's, its name the pod's `app.kubernetes.io/name` (or `app`) label, and every label it claims the pod's.
 */
export function podMismatch(claimed: Hello, pod: PodFacts): string | undefined {
  const where = `pod ${pod.namespace}/${pod.name}`;
  if ((claimed.namespace ?? '') !== pod.namespace)
    return `it claims namespace "${claimed.namespace}", but its connection comes from ${where}`;
  const app = pod.labels['app.kubernetes.io/name'] ?? pod.labels['app'];
  if (app === undefined)
    return `${where} has no app.kubernetes.io/name or app label to check the name "${claimed.name}" against`;
  if (claimed.name !== app) return `it claims name "${claimed.name}", but ${where} is "${app}"`;
  for (const [key, value] of Object.entries(claimed.labels ?? {})) {
    if (pod.labels[key] !== value)
      return `it claims label ${key}=${value}, but ${where} has ${key}=${pod.labels[key] ?? '(none)'}`;
  }
  return undefined;
}
