import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCHEMAS = fileURLToPath(new URL('../../libs/chaos-spec/crds/', import.meta.url));

/** The Chaos Mesh kinds we ship schemas for: file stem (also the plural's stem) → kind. */
const KINDS: Record<string, string> = {
  dnschaos: 'DNSChaos',
  httpchaos: 'HTTPChaos',
  iochaos: 'IOChaos',
  networkchaos: 'NetworkChaos',
  podchaos: 'PodChaos',
  stresschaos: 'StressChaos',
  timechaos: 'TimeChaos',
  schedule: 'Schedule',
  workflow: 'Workflow',
};

/** Chaos Mesh's plural of a kind's file stem: the chaos kinds are their own plural. */
const plural = (stem: string): string => (stem.endsWith('chaos') ? stem : `${stem}s`);

/**
 * Chaos Mesh v2.6.7's CustomResourceDefinitions for the kinds we use, assembled from the very
 * `openAPIV3Schema`s of its release (`libs/chaos-spec/crds`, copied unchanged): the API server validates a
 * chaos object against them exactly as it would with Chaos Mesh's own `crd.yaml` installed. (Chaos Mesh's
 * admission webhook is not here: it runs in its controller.)
 */
export function chaosMeshCrds(): Array<Record<string, unknown>> {
  return Object.entries(KINDS).map(([stem, kind]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural(stem)}.chaos-mesh.org` },
    spec: {
      group: 'chaos-mesh.org',
      names: { kind, listKind: `${kind}List`, plural: plural(stem), singular: stem },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: JSON.parse(readFileSync(join(SCHEMAS, `${stem}.schema.json`), 'utf8')) },
        },
      ],
    },
  }));
}

/**
 * Stand-ins for the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs: the kinds exist, namespaced,
 * at `monitoring.coreos.com/v1`, with any fields. Their fields are checked client-side against the operator's
 * schemas (`@kubernetes-models/prometheus-operator`, in k8s.test.ts); the operator's CRD files are not on
 * this machine.
 */
export function prometheusOperatorStandIns(): Array<Record<string, unknown>> {
  return [
    ['ServiceMonitor', 'servicemonitors'],
    ['PrometheusRule', 'prometheusrules'],
  ].map(([kind, plural]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com',
      names: { kind, listKind: `${kind}List`, plural, singular: kind!.toLowerCase() },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  }));
}
