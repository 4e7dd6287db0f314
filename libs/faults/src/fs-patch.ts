import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/** IOChaos method names we can intercept, and the fs functions behind each. */
const FUNCTIONS = {
  read: ['readFile', 'read'],
  write: ['writeFile', 'appendFile', 'write'],
  open: ['open'],
  getattr: ['stat', 'lstat'],
  readdir: ['readdir'],
  unlink: ['unlink', 'rm'],
  mkdir: ['mkdir'],
  rename: ['rename'],
} as const;

export type IoMethod = keyof typeof FUNCTIONS;
export const IO_METHODS = Object.keys(FUNCTIONS) as IoMethod[];

/** An active IO fault. */
export interface IoRule {
  faultId: string;
  matches(path: string, method: IoMethod): boolean;
  /** A delay's `applied` is told the delay actually added (ms): the fault's effect evidence. */
  effect():
    { type: 'delay'; ms: number; applied?: (ms: number) => void } | { type: 'error'; code: string; errno: number };
}

const rules = new Set<IoRule>();
const originals = new Map<string, unknown>();

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof URL) return arg.pathname;
  if (Buffer.isBuffer(arg)) return arg.toString();
  return undefined;
}

function decide(method: IoMethod, arg: unknown): ReturnType<IoRule['effect']> | undefined {
  const path = pathOf(arg);
  if (path === undefined) return undefined;
  for (const rule of rules) if (rule.matches(path, method)) return rule.effect();
  return undefined;
}

function injectedError(code: string, errno: number, syscall: string, path: unknown): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected IO fault, ${syscall} '${pathOf(path)}'`), {
    code,
    errno: -errno,
    syscall,
    path: pathOf(path),
  });
}

function patch(): void {
  const target = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const promises = fs.promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const [method, names] of Object.entries(FUNCTIONS) as Array<[IoMethod, readonly string[]]>) {
    for (const name of names) {
      const p = promises[name];
      if (p && !originals.has(`p:${name}`)) {
        originals.set(`p:${name}`, p);
        promises[name] = async function (this: unknown, ...args: unknown[]) {
          const effect = decide(method, args[0]);
          if (effect?.type === 'error') throw injectedError(effect.code, effect.errno, name, args[0]);
          if (effect?.type === 'delay') {
            const started = performance.now();
            await new Promise((r) => setTimeout(r, effect.ms));
            effect.applied?.(performance.now() - started);
          }
          return p.apply(this, args);
        };
      }
      const c = target[name];
      if (c && !originals.has(`c:${name}`)) {
        originals.set(`c:${name}`, c);
        target[name] = function (this: unknown, ...args: unknown[]) {
          const effect = decide(method, args[0]);
          const cb = args[args.length - 1];
          if (effect?.type === 'error' && typeof cb === 'function') {
            process.nextTick(cb as (e: Error) => void, injectedError(effect.code, effect.errno, name, args[0]));
            return undefined;
          }
          if (effect?.type === 'delay') {
            const started = performance.now();
            setTimeout(() => {
              effect.applied?.(performance.now() - started);
              c.apply(this, args);
            }, effect.ms);
            return undefined;
          }
          return c.apply(this, args);
        };
      }
    }
  }
  // ESM `import { readFile } from 'node:fs/promises'` bindings follow the patched functions only after this.
  syncBuiltinESMExports();
}

function unpatch(): void {
  const target = fs as unknown as Record<string, unknown>;
  const promises = fs.promises as unknown as Record<string, unknown>;
  for (const [key, fn] of originals) {
    const [kind, name] = key.split(':') as ['p' | 'c', string];
    (kind === 'p' ? promises : target)[name] = fn;
  }
  originals.clear();
  syncBuiltinESMExports();
}

/**
 * Adds an IO rule; the fs functions are wrapped while at least one rule is active and restored (exactly
 * the originals) when the last one goes. Callback and promise APIs are covered; the `*Sync` functions are not.
 */
export function installIoRule(rule: IoRule): { recover(): void } {
  // The rule's effect is read by its driver (which made the rule), not here.
  if (rules.size === 0) patch();
  rules.add(rule);
  return {
    recover: () => {
      if (!rules.delete(rule)) return;
      if (rules.size === 0) unpatch();
    },
  };
}
