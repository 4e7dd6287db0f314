/** Reads configuration from the environment with errors that name the variable and what is valid. */
export class Config {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  string(name: string, fallback?: string): string {
    const v = this.env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    throw new Error(`configuration: ${name} is required`);
  }

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`configuration: ${name}=${raw} must be an integer between ${min} and ${max}`);
    }
    return n;
  }

  /** A comma-separated list of http(s) origins, e.g. `USER_SERVICE_URLS=http://127.0.0.1:3001,http://127.0.0.1:3011`. */
  urls(name: string, fallback?: string): string[] {
    const list = this.string(name, fallback)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const u of list) {
      if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) {
        throw new Error(`configuration: ${name} entry "${u}" must be an http(s) origin such as http://127.0.0.1:3001`);
      }
    }
    return list;
  }
}
