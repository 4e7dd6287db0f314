import { FaultSpecError } from './errors.ts';

/** Reads one kind's spec object with errors that name the field and the valid range. */
export class SpecReader {
  private readonly obj: Record<string, unknown>;
  constructor(
    readonly kind: string,
    spec: unknown,
    private readonly prefix = '',
  ) {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      throw new FaultSpecError(kind, prefix || '(root)', 'must be an object');
    }
    this.obj = spec as Record<string, unknown>;
  }

  private field(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  number(name: string, opts: { min?: number; max?: number; default?: number; integer?: boolean } = {}): number {
    const v = this.obj[name];
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      throw new FaultSpecError(this.kind, this.field(name), 'is required');
    }
    const min = opts.min ?? -Infinity;
    const max = opts.max ?? Infinity;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (opts.integer && !Number.isInteger(v))) {
      throw new FaultSpecError(
        this.kind,
        this.field(name),
        `must be ${opts.integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  }

  string(name: string, opts: { default?: string; oneOf?: readonly string[] } = {}): string {
    const v = this.obj[name];
    if (v === undefined) {
      if (opts.default !== undefined) return opts.default;
      throw new FaultSpecError(this.kind, this.field(name), 'is required');
    }
    if (typeof v !== 'string' || v === '')
      throw new FaultSpecError(this.kind, this.field(name), 'must be a non-empty string');
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      throw new FaultSpecError(this.kind, this.field(name), `must be one of ${opts.oneOf.join(', ')}, got "${v}"`);
    }
    return v;
  }

  optionalString(name: string): string | undefined {
    return this.obj[name] === undefined ? undefined : this.string(name);
  }

  strings(name: string): string[] | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw new FaultSpecError(this.kind, this.field(name), 'must be a list of strings');
    }
    return v as string[];
  }

  record(name: string): Record<string, string> | undefined {
    const v = this.obj[name];
    if (v === undefined) return undefined;
    if (
      typeof v !== 'object' ||
      v === null ||
      Array.isArray(v) ||
      Object.values(v).some((s) => typeof s !== 'string')
    ) {
      throw new FaultSpecError(this.kind, this.field(name), 'must be a map of strings');
    }
    return v as Record<string, string>;
  }

  /** A nested object's reader (an empty one when absent). */
  nested(name: string): SpecReader {
    return new SpecReader(this.kind, this.obj[name] ?? {}, this.field(name));
  }

  /** The object as given, for fields of a shape the typed readers do not cover. */
  raw(): Readonly<Record<string, unknown>> {
    return this.obj;
  }

  /** Rejects fields the kind does not know, so a typo is an error rather than a silently ignored field. */
  only(...names: string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!names.includes(k)) {
        throw new FaultSpecError(
          this.kind,
          this.field(k),
          `is not a field of ${this.kind}; valid fields: ${names.join(', ')}`,
        );
      }
    }
  }
}
