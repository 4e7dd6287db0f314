import type { SelectorSpec } from '@nova/chaos-spec';

/** A Chaos Mesh selector as the Kubernetes API's list query: where to list pods and with which selectors. */
export interface PodQuery {
  /** Namespaces to list in (the selector's, else the chaos object's own). */
  namespaces: string[];
  /** `labelSelector` query string (labelSelectors and expressionSelectors); empty for none. */
  labelSelector: string;
  /** `fieldSelector` query string (fieldSelectors, podPhaseSelectors, nodes); empty for none. */
  fieldSelector: string;
  /** Pods named explicitly (`selector.pods`): namespace → names. The other selectors then do not apply. */
  pods?: Record<string, string[]>;
  /** Annotations every pod must carry (no server-side selector exists for them). */
  annotations: Record<string, string>;
}

type RawSelector = SelectorSpec['selector'] & {
  fieldSelectors?: Record<string, string>;
  podPhaseSelectors?: string[];
  nodes?: string[];
};

/**
 * Translates `spec.selector` to list queries: label and expression selectors in Kubernetes' selector syntax
 * (`a=b,c in (d,e),!f`), field selectors and one pod phase or node as field selectors (the API ORs nothing,
 * so several phases or nodes are refused rather than half-applied).
 */
export function podQuery(selector: RawSelector | undefined, objectNamespace: string): PodQuery {
  const s = selector ?? {};
  const labels = Object.entries(s.labelSelectors ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.expressionSelectors ?? []) {
    const values = `(${(e.values ?? []).join(',')})`;
    labels.push(
      e.operator === 'In'
        ? `${e.key} in ${values}`
        : e.operator === 'NotIn'
          ? `${e.key} notin ${values}`
          : e.operator === 'Exists'
            ? e.key
            : `!${e.key}`,
    );
  }
  const fields = Object.entries(s.fieldSelectors ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const [name, list, field] of [
    ['podPhaseSelectors', s.podPhaseSelectors, 'status.phase'],
    ['nodes', s.nodes, 'spec.nodeName'],
  ] as const) {
    if (!list || list.length === 0) continue;
    if (list.length > 1) {
      throw new RangeError(
        `selector.${name}: ${list.length} values; planning on a cluster takes one (a field selector cannot OR), or none`,
      );
    }
    fields.push(`${field}=${list[0]}`);
  }
  const query: PodQuery = {
    namespaces: s.namespaces && s.namespaces.length > 0 ? [...s.namespaces] : [objectNamespace],
    labelSelector: labels.join(','),
    fieldSelector: fields.join(','),
    annotations: { ...(s.annotationSelectors ?? {}) },
  };
  if (s.pods && Object.keys(s.pods).length > 0) {
    query.pods = s.pods;
    query.namespaces = Object.keys(s.pods);
  }
  return query;
}
