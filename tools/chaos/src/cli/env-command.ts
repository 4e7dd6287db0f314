import { ENVIRONMENT_KINDS, environmentKind } from '../env/registry.ts';

/**
 * `chaos env`: which environment this command line selects, from where (`--env`, `CHAOS_ENV`, the default),
 * and whether this machine has what it needs. Exit 0 when it does, 1 when something is missing (named, with
 * the fix), 2 for an unknown name.
 */
export function envCommand(flag: string | undefined): number {
  const from = flag !== undefined ? '--env' : process.env['CHAOS_ENV'] !== undefined ? 'CHAOS_ENV' : 'the default';
  const name = flag ?? process.env['CHAOS_ENV'] ?? 'local';
  const kind = environmentKind(name);
  if (!kind) {
    const names = ENVIRONMENT_KINDS.map((e) => e.name);
    process.stderr.write(
      `chaos: environment "${name}" (${from}): expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)}\n`,
    );
    return 2;
  }
  console.log(`environment: ${name} (${from})`);
  const list = kind.needs();
  for (const n of list) console.log(`  ${n.ok ? 'ok     ' : 'MISSING'} ${n.what}${n.ok || !n.fix ? '' : `: ${n.fix}`}`);
  return list.every((n) => n.ok) ? 0 : 1;
}
