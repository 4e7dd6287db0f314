import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { API_VERSION, CHAOS_KINDS, KINDS, type ChaosKind, type Kind, type Resource, type SpecIssue } from './model.ts';
import { schemaValidator, type ErrorObject } from './schemas.ts';
import { chaosRules, scheduleRules, workflowRules, type RuleIssue } from './webhook-rules.ts';

/** The outcome of reading one or more files. */
export interface ParseResult {
  /** Objects with no error (they may have warnings). */
  resources: Resource[];
  /** Errors: an object with any is not in `resources`. */
  issues: SpecIssue[];
  /** Valid for Chaos Mesh, but not runnable here (embedded kinds Nova Chaos does not model). */
  warnings: SpecIssue[];
}

/** Options of {@link parseResources}. */
export interface ParseOptions {
  /** Treat warnings as errors (`chaos validate --strict`). */
  strict?: boolean;
}

/** Largest experiment file we read, in bytes: a real manifest is a few KB. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Most YAML alias uses per document: enough for any real manifest, far too few for an alias bomb. */
export const MAX_ALIAS_COUNT = 100;

/** Thrown by {@link loadResources} when any file has issues; the message lists each one. */
export class SpecValidationError extends Error {
  readonly code = 'CHAOS_ERR_INVALID_EXPERIMENT';
  constructor(readonly issues: SpecIssue[]) {
    super(`${issues.length} problem(s) in the experiment files:\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'SpecValidationError';
  }
}

/** `file:line:column path: message` (warnings say so). */
export function formatIssue(i: SpecIssue): string {
  return `${i.file}:${i.line}:${i.column} ${i.path || '(document)'}: ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`;
}

/** Dotted path: `spec.templates[2].stressChaos`. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

function similar(a: string, b: string): boolean {
  if (a.startsWith(b) || b.startsWith(a)) return true;
  if (Math.abs(a.length - b.length) > 2) return false;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]! <= 2;
}

/** Turns an ajv error into a path and a message that says what would be valid. */
function schemaIssue(e: ErrorObject, kind: string): RuleIssue {
  const path: Array<string | number> = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...path, String(params['missingProperty'])], message: 'is required' };
    case 'additionalProperties': {
      const field = String(params['additionalProperty']);
      const allowed = Object.keys(
        ((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object,
      );
      const guess = allowed.find((a) => similar(a, field));
      if (kind === 'Workflow' && field === 'entrypoint') {
        return {
          path: [...path, field],
          message:
            'is not a field of Workflow: name the first template in `entry`, and to run templates in order make it a Serial template whose `children` list them',
        };
      }
      return {
        path: [...path, field],
        message: `is not a field of ${kind}${path.length ? ` at ${formatPath(path)}` : ''}${guess ? ` (did you mean "${guess}"?)` : ''}; valid fields: ${allowed.join(', ')}`,
      };
    }
    case 'enum':
      return {
        path,
        message: `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}`,
      };
    case 'type':
      return { path, message: `must be ${String(params['type'])}, got ${JSON.stringify(e.data)}` };
    default:
      return {
        path,
        message: `${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${JSON.stringify(e.data)}` : ''}`,
      };
  }
}

/** Finds the node at `path` (or its nearest existing ancestor) to report a line. */
function position(
  doc: Document,
  path: ReadonlyArray<string | number>,
  lc: LineCounter,
): { line: number; column: number } {
  let node: Node | null | undefined = doc.contents;
  let best = node;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      // Point at the key for a field, which is where a reader looks.
      best = (pair.key as Node) ?? best;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key] as Node | undefined;
      if (!node) break;
      best = node;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  const pos = lc.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** Validates one parsed object: apiVersion and kind, metadata, the CRD schema, then the webhook rules. */
function validateObject(obj: Record<string, unknown>): RuleIssue[] {
  const issues: RuleIssue[] = [];
  if (obj['apiVersion'] !== API_VERSION) {
    issues.push({ path: ['apiVersion'], message: `must be ${API_VERSION}, got ${JSON.stringify(obj['apiVersion'])}` });
  }
  const kind = obj['kind'];
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    issues.push({ path: ['kind'], message: `must be one of ${KINDS.join(', ')}, got ${JSON.stringify(kind)}` });
    return issues;
  }
  const metadata = obj['metadata'] as Record<string, unknown> | undefined;
  const name = metadata?.['name'];
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) {
    issues.push({
      path: ['metadata', 'name'],
      message: `${name === undefined ? 'is required' : `${JSON.stringify(name)} is not`}: a DNS-1123 name (lower-case letters, digits, '-', '.')`,
    });
  }
  for (const f of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(f))
      issues.push({ path: [f], message: `is not a top-level field of a ${kind} (apiVersion, kind, metadata, spec)` });
  }
  if (obj['spec'] === undefined) {
    issues.push({ path: ['spec'], message: 'is required' });
    return issues;
  }
  const validate = schemaValidator(kind as Kind);
  // Validate the spec only: metadata is Kubernetes', not the CRD's.
  if (!validate({ spec: obj['spec'] })) {
    for (const e of validate.errors ?? []) {
      // anyOf/oneOf branches and the `if` helpers repeat the real error; keep the concrete ones.
      if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue;
      issues.push(schemaIssue(e, kind));
    }
  }
  if ((CHAOS_KINDS as readonly string[]).includes(kind))
    chaosRules(kind as ChaosKind, obj['spec'], ['spec'], issues, 'standalone');
  else if (kind === 'Workflow') workflowRules(obj['spec'], ['spec'], issues);
  else scheduleRules(obj['spec'], ['spec'], issues);
  // One message per path is enough: the schema and the rules may both see the same problem.
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${formatPath(i.path)}|${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Parses and validates multi-document YAML. Every finding carries the file, YAML path and line; nothing
 * throws on bad input (syntax errors, alias bombs, oversized or empty files are findings too).
 */
export function parseResources(text: string, file: string, options: ParseOptions = {}): ParseResult {
  const resources: Resource[] = [];
  const issues: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_FILE_BYTES) {
    issues.push({
      file,
      line: 1,
      column: 1,
      path: '',
      message: `is ${bytes} bytes: experiment files are at most ${MAX_FILE_BYTES} bytes (1 MiB); split it`,
    });
    return { resources, issues, warnings };
  }
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  let objects = 0;
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const p = lc.linePos(e.pos[0]);
        issues.push({
          file,
          line: p.line,
          column: p.col,
          path: '',
          message: `YAML syntax: ${e.message.split('\n')[0]}`,
        });
      }
      continue;
    }
    let obj: unknown;
    try {
      obj = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      // The yaml library refuses to expand an alias bomb (it throws a ReferenceError): report, never crash.
      const p = position(doc, [], lc);
      issues.push({
        file,
        ...p,
        path: '',
        message: `YAML aliases expand too far (${(error as Error).message.split('\n')[0]}): at most ${MAX_ALIAS_COUNT} alias uses per document`,
      });
      continue;
    }
    if (obj === null || obj === undefined) continue; // an empty document (a trailing ---)
    objects++;
    if (typeof obj !== 'object' || Array.isArray(obj)) {
      const p = position(doc, [], lc);
      issues.push({
        file,
        ...p,
        path: '',
        message: 'each document must be a Kubernetes object (apiVersion, kind, metadata, spec)',
      });
      continue;
    }
    const found = validateObject(obj as Record<string, unknown>);
    let errors = 0;
    for (const i of found) {
      const finding: SpecIssue = { file, ...position(doc, i.path, lc), path: formatPath(i.path), message: i.message };
      if (i.warning && !options.strict) warnings.push({ ...finding, severity: 'warning' });
      else {
        issues.push(finding);
        errors++;
      }
    }
    if (errors === 0) {
      const o = obj as { kind: Kind; metadata: Record<string, unknown>; spec: never };
      resources.push({
        kind: o.kind,
        metadata: {
          name: String(o.metadata['name']),
          namespace: String(o.metadata['namespace'] ?? 'default'),
          labels: (o.metadata['labels'] as Record<string, string>) ?? {},
          annotations: (o.metadata['annotations'] as Record<string, string>) ?? {},
        },
        spec: o.spec,
        source: { file, ...position(doc, [], lc) },
      } as Resource);
    }
  }
  if (objects === 0 && issues.length === 0) {
    issues.push({
      file,
      line: 1,
      column: 1,
      path: '',
      message:
        'holds no Kubernetes object: an experiment file needs at least one (apiVersion: chaos-mesh.org/v1alpha1, kind, metadata, spec)',
    });
  }
  return { resources, issues, warnings };
}

/** Lists the YAML files of paths (files, or directories read recursively), sorted. */
export function yamlFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const st = statSync(p);
    if (st.isDirectory()) {
      const entries = readdirSync(p).sort();
      out.push(
        ...yamlFiles(
          entries
            .filter((e) => !e.startsWith('.') && e !== 'kustomization.yaml')
            .map((e) => join(p, e))
            .filter((e) => statSync(e).isDirectory() || /\.ya?ml$/.test(e)),
        ),
      );
    } else out.push(p);
  }
  return out;
}

/** Reads and validates files and directories; throws {@link SpecValidationError} listing every issue. */
export function loadResources(paths: readonly string[]): Resource[] {
  const all: ParseResult = { resources: [], issues: [], warnings: [] };
  for (const f of yamlFiles(paths)) {
    const r = parseResources(readFileSync(f, 'utf8'), f);
    all.resources.push(...r.resources);
    all.issues.push(...r.issues);
  }
  if (all.issues.length > 0) throw new SpecValidationError(all.issues);
  return all.resources;
}

/** A chaos object's spec is immutable once created (Chaos Mesh: "Cannot update chaos spec"); Workflow and Schedule may change. */
export function checkUpdate(before: Resource, after: Resource): SpecIssue[] {
  if (before.kind === 'Workflow' || before.kind === 'Schedule') return [];
  if (JSON.stringify(before.spec) === JSON.stringify(after.spec)) return [];
  return [
    {
      ...after.source,
      path: 'spec',
      message: `cannot update the spec of ${before.kind} ${before.metadata.name}: delete it and create it again`,
    },
  ];
}
