import type { KubeConfig } from '@kubernetes/client-node';
import { KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { crdPlural, type Kind, type Resource } from '@nova/chaos-spec';

/** The field manager of everything `chaos run --env k8s` applies (`kubectl get … --show-managed-fields`). */
export const FIELD_MANAGER = 'nova-chaos';
/** Chaos Mesh's pause annotation: `"true"` recovers the fault and keeps the object. */
export const PAUSE_ANNOTATION = 'experiment.chaos-mesh.org/pause';

/** A chaos object as the API server returns it, with what Chaos Mesh writes into its status. */
export interface ChaosObject extends KubernetesObject {
  spec?: Record<string, unknown>;
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; lastTransitionTime?: string }>;
    experiment?: {
      desiredPhase?: string;
      containerRecords?: Array<{
        id: string;
        phase: string;
        injectedCount?: number;
        recoveredCount?: number;
      }>;
    };
  };
}

/** Whether Chaos Mesh set condition `type` (`Selected`, `AllInjected`, `AllRecovered`, `Paused`) to True. */
export function hasCondition(o: ChaosObject | undefined, type: string): boolean {
  return o?.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/** The command that clears an object's finalizers, for an object stuck in deletion. */
export function clearFinalizersCommand(r: { kind: string; name: string; namespace: string }): string {
  return `kubectl patch ${crdPlural(r.kind as Kind)}.chaos-mesh.org/${r.name} -n ${r.namespace} --type=merge -p '{"metadata":{"finalizers":null}}'`;
}

/**
 * The chaos objects of a run on a cluster, through the API server: server-side applied with the field manager
 * {@link FIELD_MANAGER}, read back with Chaos Mesh's status, paused through its annotation, deleted.
 */
export class ChaosObjects {
  private readonly api: KubernetesObjectApi;

  constructor(kubeconfig: KubeConfig) {
    this.api = KubernetesObjectApi.makeApiClient(kubeconfig);
  }

  /** The object a resource becomes on the cluster (its namespace defaulted to `namespace`). */
  static manifest(r: Resource, namespace: string): ChaosObject {
    return {
      apiVersion: 'chaos-mesh.org/v1alpha1',
      kind: r.kind,
      metadata: {
        name: r.metadata.name,
        namespace: r.metadata.namespace ?? namespace,
        ...(r.metadata.annotations ? { annotations: r.metadata.annotations } : {}),
        ...(r.metadata.labels ? { labels: r.metadata.labels } : {}),
      },
      spec: r.spec as Record<string, unknown>,
    };
  }

  /** Server-side apply (conflicts forced: this run owns the experiment it starts). */
  apply(o: ChaosObject): Promise<ChaosObject> {
    return this.api.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }

  /** The object with its status, or undefined once it is gone. */
  async read(o: ChaosObject): Promise<ChaosObject | undefined> {
    try {
      return (await this.api.read({
        apiVersion: o.apiVersion!,
        kind: o.kind!,
        metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace! },
      })) as ChaosObject;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  /** Sets or clears Chaos Mesh's pause annotation (a merge patch: the rest of the object stays as applied). */
  setPaused(o: ChaosObject, paused: boolean): Promise<ChaosObject> {
    return this.api.patch(
      {
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: {
          name: o.metadata!.name,
          namespace: o.metadata!.namespace,
          annotations: { [PAUSE_ANNOTATION]: paused ? 'true' : 'false' },
        },
      },
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      PatchStrategy.MergePatch,
    );
  }

  /** Deletes the object (Chaos Mesh recovers its fault before it lets the object go); gone already is fine. */
  async delete(o: ChaosObject): Promise<void> {
    try {
      await this.api.delete({
        apiVersion: o.apiVersion!,
        kind: o.kind!,
        metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace! },
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
  }
}
