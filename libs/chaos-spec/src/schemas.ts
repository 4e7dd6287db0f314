import { readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Kind } from './model.ts';

const Ajv = AjvModule.default ?? AjvModule;

const FILES: Record<Kind, string> = {
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
    const raw = JSON.parse(readFileSync(new URL(`../crds/${FILES[kind]}.schema.json`, import.meta.url), 'utf8'));
    v = ajv.compile(toJsonSchema(raw) as object);
    compiled.set(kind, v);
  }
  return v;
}

export type { ErrorObject };
