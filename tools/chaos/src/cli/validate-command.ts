import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { formatIssue, parseResources, yamlFiles, type Resource, type SpecIssue } from '@nova/chaos-spec';
import { HypothesisAnnotationError, hypothesesFrom, KNOWN_ANNOTATIONS } from '../verdict/hypotheses.ts';

/** Everything validation found in some files. */
export interface Validation {
  files: string[];
  resources: Resource[];
  errors: SpecIssue[];
  warnings: SpecIssue[];
}

/** Options of {@link validateFiles}. */
export interface ValidateOptions {
  /** Warnings (embedded kinds Nova Chaos does not model) become errors. */
  strict?: boolean;
}

/**
 * Reads and validates files and directories (recursively). A file that cannot be read is an error of that
 * file, like a finding in it: nothing here throws on bad input.
 */
export function validateFiles(paths: readonly string[], options: ValidateOptions = {}): Validation {
  const out: Validation = { files: [], resources: [], errors: [], warnings: [] };
  const files: string[] = [];
  for (const p of paths) {
    try {
      files.push(...yamlFiles([p]));
    } catch (error) {
      out.errors.push({
        file: relative(process.cwd(), p) || p,
        line: 1,
        column: 1,
        path: '',
        message: `cannot be read: ${(error as Error).message}`,
      });
    }
  }
  for (const f of files) {
    const name = relative(process.cwd(), f) || f;
    out.files.push(name);
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (error) {
      out.errors.push({
        file: name,
        line: 1,
        column: 1,
        path: '',
        message: `cannot be read: ${(error as Error).message}`,
      });
      continue;
    }
    const r = parseResources(text, name, { strict: options.strict ?? false });
    out.resources.push(...r.resources);
    out.errors.push(...r.issues);
    out.warnings.push(...r.warnings);
    for (const resource of r.resources) {
      const found = annotationIssues(resource);
      out.errors.push(...found.errors);
      if (options.strict) out.errors.push(...found.warnings);
      else out.warnings.push(...found.warnings.map((w) => ({ ...w, severity: 'warning' as const })));
    }
  }
  return out;
}

/**
 * The `nova.dev/*` annotations of an object: a value the hypotheses cannot read is an error (the run would
 * refuse the experiment); an unknown name is a warning (a typo drops a check silently; an error with --strict).
 */
function annotationIssues(r: Resource): { errors: SpecIssue[]; warnings: SpecIssue[] } {
  const at = (key: string, message: string): SpecIssue => ({
    file: r.source.file,
    line: r.source.line,
    column: 1,
    path: `metadata.annotations["${key}"]`,
    message,
  });
  const annotations = r.metadata.annotations ?? {};
  const errors: SpecIssue[] = [];
  try {
    hypothesesFrom(annotations);
  } catch (error) {
    if (!(error instanceof HypothesisAnnotationError)) throw error;
    const key = /metadata\.annotations\["([^"]+)"\]/.exec(error.message)?.[1] ?? 'nova.dev/';
    errors.push(at(key, error.message.slice(error.message.indexOf(': ') + 2)));
  }
  const warnings = Object.keys(annotations)
    .filter((k) => k.startsWith('nova.dev/') && !KNOWN_ANNOTATIONS.includes(k))
    .map((k) => at(k, `unknown Nova annotation: no check reads it (known: ${KNOWN_ANNOTATIONS.join(', ')})`));
  return { errors, warnings };
}

/**
 * `chaos validate [--strict] [--output text|json] <files...>`: prints each valid object and every finding
 * with file, line and YAML path; exit 0 when there is no error (warnings allowed), 2 otherwise.
 */
export function validateCommand(paths: readonly string[], options: ValidateOptions & { output?: string }): number {
  const output = options.output ?? 'text';
  if (output !== 'text' && output !== 'json') {
    process.stderr.write(`chaos: --output must be text or json, got ${JSON.stringify(output)}\n`);
    return 2;
  }
  const v = validateFiles(paths, options);
  if (output === 'json') {
    const resources = v.resources.map((r) => ({
      kind: r.kind,
      name: r.metadata.name,
      namespace: r.metadata.namespace,
      ...r.source,
    }));
    console.log(
      JSON.stringify(
        { valid: v.errors.length === 0, files: v.files, resources, errors: v.errors, warnings: v.warnings },
        null,
        2,
      ),
    );
    return v.errors.length ? 2 : 0;
  }
  for (const r of v.resources) console.log(`ok  ${r.kind}/${r.metadata.name}  (${r.source.file}:${r.source.line})`);
  for (const w of v.warnings) process.stderr.write(`  ${formatIssue(w)}\n`);
  if (v.errors.length) {
    process.stderr.write(
      `${v.errors.length} problem(s) in the experiment files:\n${v.errors.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`,
    );
    return 2;
  }
  return 0;
}
