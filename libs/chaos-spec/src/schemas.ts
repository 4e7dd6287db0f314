import { readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Kind } from './model.ts';

const Ajv = AjvModule.default ?? AjvModule;

/** Each kind's schema file under `crds/` (its stem is also Chaos Mesh's plural, but for `workflows`, `schedules`). */
export const CRD_FILES: Record<Kind, string> = {
  NetworkChaos: 'networkchaos',
  PodChaos: 'podchaos',
  StressChaos: 'stresschaos',
  IOChaos: 'iochaos',
  HTTPChaos: 'httpchaos',
  TimeChaos: 'timechaos',
  DNSChaos: 'dnschaos',
  Workflow: 'workflow',
  Schedule: 'schedule',
};

/**
 * Converts an OpenAPI v3.0 CRD schema for ajv (draft-07): boolean exclusive bounds become numeric, OpenAPI
 * formats (int32, int64, date-time) are dropped (types still apply), and every object with declared
 * properties refuses unknown ones, as `kubectl --validate=strict` does.
 */
export function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const s = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum' || k === 'format' || k.startsWith('x-kubernetes'))
      continue;
    out[k] = toJsonSchema(v);
  }
  if (s['exclusiveMinimum'] === true && 'minimum' in s) {
    out['exclusiveMinimum'] = s['minimum'];
    delete out['minimum'];
  }
  if (s['exclusiveMaximum'] === true && 'maximum' in s) {
    out['exclusiveMaximum'] = s['maximum'];
    delete out['maximum'];
  }
  // int-or-string fields carry `anyOf` of both; `x-kubernetes-int-or-string` alone means either.
  if (s['x-kubernetes-int-or-string'] === true && !s['anyOf']) delete out['type'];
  if (out['properties'] && out['additionalProperties'] === undefined) out['additionalProperties'] = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const compiled = new Map<Kind, ValidateFunction>();

/** The CRD schema validator of a kind, compiled on first use (Workflow and Schedule take a few hundred ms). */
export function schemaValidator(kind: Kind): ValidateFunction {
  let v = compiled.get(kind);
  if (!v) {
    const raw = crdSchema(kind);
    v = ajv.compile(toJsonSchema(raw) as object);
    compiled.set(kind, v);
  }
  return v;
}

/** Chaos Mesh v2.6.7's `openAPIV3Schema` of a kind, as its CRD declares it (copied unchanged into `crds/`). */
export function crdSchema(kind: Kind): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../crds/${CRD_FILES[kind]}.schema.json`, import.meta.url), 'utf8'));
}

/** Chaos Mesh's plural of a kind: the chaos kinds are their own plural (`networkchaos`), the others add `s`. */
export function crdPlural(kind: Kind): string {
  const stem = CRD_FILES[kind];
  return stem.endsWith('chaos') ? stem : `${stem}s`;
}

/**
 * Chaos Mesh v2.6.7's CustomResourceDefinitions for every kind we model, assembled from the very
 * `openAPIV3Schema`s of its release: an API server validates a chaos object against them exactly as it would
 * with Chaos Mesh's own `crd.yaml` installed (its admission webhook runs in its controller, not here). For
 * tests against a real kube-apiserver, and for `chaos run --env k8s` on a cluster that lacks them (it refuses).
 */
export function crdManifests(): Array<Record<string, unknown>> {
  return (Object.keys(CRD_FILES) as Kind[]).map((kind) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${crdPlural(kind)}.chaos-mesh.org` },
    spec: {
      group: 'chaos-mesh.org',
      names: { kind, listKind: `${kind}List`, plural: crdPlural(kind), singular: CRD_FILES[kind] },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: crdSchema(kind) },
        },
      ],
    },
  }));
}

export type { ErrorObject };
