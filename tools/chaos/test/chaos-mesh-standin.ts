import {
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
} from '@kubernetes/client-node';
import { parseDuration } from '@nova/chaos-spec';

/**
 * A TEST STAND-IN for Chaos Mesh's controller, which cannot run on our machines (no kind node images): it
 * writes the status Chaos Mesh v2.6.7 writes, so `chaos run --env k8s` can be tested against a real
 * kube-apiserver. It injects nothing. For each NetworkChaos in `namespace`:
 * - first seen: adds the `chaos-mesh/records` finalizer, then status Selected / AllInjected True with one
 *   container record per pod its label selector matches (phase Injected, injectedCount 1);
 * - `spec.duration` after that: AllInjected False, AllRecovered True, records Recovered;
 * - deleted: removes the finalizer, as Chaos Mesh does once it has recovered.
 * - paused (`experiment.chaos-mesh.org/pause: "true"`): Paused True, AllInjected False, records Recovered.
 * Objects labelled `standin/ignore: "true"` are never answered (a controller that is down); objects labelled
 * `standin/stuck: "true"` keep their finalizer (a controller that cannot recover them). With `hooks`, it calls
 * `inject` when it marks an object injected and `recover` when it marks it recovered, paused or deleted: a test
 * can make a fault real there (through the agent, as Chaos Mesh's daemon would).
 * The real end to end is `k8s/kind/run.sh`, against Chaos Mesh itself.
 */
export class ChaosMeshStandIn {
  private timer: NodeJS.Timeout | undefined;
  private readonly injectedAt = new Map<string, number>();
  /** What it saw of each object when it first met it: its managers (who applied it, and how). */
  readonly seen = new Map<string, { managers: Array<{ manager?: string; operation?: string }> }>();
  private readonly api: CustomObjectsApi;
  private readonly merge: ConfigurationOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  private busy = false;

  constructor(
    kubeconfigFile: string,
    private readonly namespace: string,
    private readonly podsByLabel: (labels: Record<string, string>) => Promise<string[]>,
    private readonly hooks: { inject?(name: string): Promise<void>; recover?(name: string): Promise<void> } = {},
  ) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigFile);
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), 200);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const list = (await this.api.listNamespacedCustomObject({
        group: 'chaos-mesh.org',
        version: 'v1alpha1',
        namespace: this.namespace,
        plural: 'networkchaos',
      })) as { items: Obj[] };
      for (const o of list.items) await this.reconcile(o);
    } catch {
      // the API server is stopping, or an object went between list and patch: the next tick sees
    } finally {
      this.busy = false;
    }
  }

  private async reconcile(o: Obj): Promise<void> {
    const name = o.metadata.name;
    const labels = o.metadata.labels ?? {};
    if (labels['standin/ignore'] === 'true') return;
    const ref = {
      group: 'chaos-mesh.org',
      version: 'v1alpha1',
      namespace: this.namespace,
      plural: 'networkchaos',
      name,
    };
    if (!this.seen.has(name))
      this.seen.set(name, {
        managers: (o.metadata.managedFields ?? []).map((m) => ({ manager: m.manager, operation: m.operation })),
      });
    if (o.metadata.deletionTimestamp) {
      if (this.injectedAt.has(name)) await this.hooks.recover?.(name);
      this.injectedAt.delete(name);
      if (labels['standin/stuck'] !== 'true' && o.metadata.finalizers?.length)
        await this.api.patchNamespacedCustomObject({ ...ref, body: { metadata: { finalizers: null } } }, this.merge);
      return;
    }
    const selector =
      (o.spec['selector'] as { labelSelectors?: Record<string, string> } | undefined)?.labelSelectors ?? {};
    const pods = await this.podsByLabel(selector);
    const records = (phase: string, recovered: number) =>
      pods.map((p) => ({
        id: `${this.namespace}/${p}`,
        phase,
        selectorKey: '.',
        injectedCount: 1,
        recoveredCount: recovered,
      }));
    const conditions = (injected: boolean, paused = false) => [
      { type: 'Selected', status: 'True' },
      { type: 'AllInjected', status: injected ? 'True' : 'False' },
      { type: 'AllRecovered', status: injected ? 'False' : 'True' },
      { type: 'Paused', status: paused ? 'True' : 'False' },
    ];
    const at = this.injectedAt.get(name);
    const pausedNow = o.metadata.annotations?.['experiment.chaos-mesh.org/pause'] === 'true';
    if (at !== undefined && pausedNow) {
      if (o.status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True')) return;
      await this.hooks.recover?.(name);
      const body = {
        status: {
          conditions: conditions(false, true),
          experiment: { desiredPhase: 'Stop', containerRecords: records('Recovered', 1) },
        },
      };
      await this.api.patchNamespacedCustomObjectStatus({ ...ref, body }, this.merge);
      return;
    }
    if (at === undefined) {
      await this.api.patchNamespacedCustomObject(
        { ...ref, body: { metadata: { finalizers: ['chaos-mesh/records'] } } },
        this.merge,
      );
      const body = {
        status: {
          conditions: conditions(true),
          experiment: { desiredPhase: 'Run', containerRecords: records('Injected', 0) },
        },
      };
      await this.api.patchNamespacedCustomObjectStatus({ ...ref, body }, this.merge);
      this.injectedAt.set(name, Date.now());
      await this.hooks.inject?.(name);
      return;
    }
    const duration = typeof o.spec['duration'] === 'string' ? parseDuration(o.spec['duration']) : undefined;
    if (duration !== undefined && Date.now() - at >= duration && o.status?.experiment?.desiredPhase === 'Run') {
      await this.hooks.recover?.(name);
      const body = {
        status: {
          conditions: conditions(false),
          experiment: { desiredPhase: 'Stop', containerRecords: records('Recovered', 1) },
        },
      };
      await this.api.patchNamespacedCustomObjectStatus({ ...ref, body }, this.merge);
    }
  }
}

interface Obj {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    managedFields?: Array<{ manager?: string; operation?: string }>;
  };
  spec: Record<string, unknown>;
  status?: { conditions?: Array<{ type: string; status: string }>; experiment?: { desiredPhase?: string } };
}
