import { FAULT_CATALOGUE, type FaultKindEntry } from '@nova/faults';

/**
 * `chaos kinds`: every fault kind of the catalogue with its layer and the Chaos Mesh actions it honours (which
 * one an action becomes depends on the environment: `chaos plan` shows it for a file). `--output json`
 * prints the same as JSON. Exit 0.
 */
export function kindsCommand(output: string | undefined): number {
  const entries = Object.values(FAULT_CATALOGUE) as FaultKindEntry[];
  if (output === 'json') {
    const rows = entries.map((e) => ({
      kind: e.kind,
      layer: e.layer,
      chaosMesh: e.chaosMesh,
      description: e.description,
    }));
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  const width = Math.max(...entries.map((e) => e.kind.length));
  console.log(`${'KIND'.padEnd(width)}  ${'LAYER'.padEnd(10)}  FROM CHAOS MESH`);
  for (const e of entries) {
    const from = e.chaosMesh.length ? e.chaosMesh.join(', ') : "(none: the agent's ApplyFault takes it by kind)";
    console.log(`${e.kind.padEnd(width)}  ${e.layer.padEnd(10)}  ${from}`);
    console.log(`${' '.repeat(width)}  ${' '.repeat(10)}  ${e.description}`);
  }
  return 0;
}
