import { crdManifests } from '@nova/chaos-spec';

/** Chaos Mesh v2.6.7's CRDs for the kinds we model (built in `@nova/chaos-spec` from its copied schemas). */
export const chaosMeshCrds = crdManifests;

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
