import type { SelectorSpec } from './model.ts';

/** What selection needs to know about a target. */
export interface Selectable {
  id: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

function matches(sel: SelectorSpec['selector'], t: Selectable, defaultNamespace: string): boolean {
  if (sel.pods && Object.keys(sel.pods).length > 0) {
    return (sel.pods[t.namespace] ?? []).some((p) => p === t.id || p === t.name);
  }
  const namespaces = sel.namespaces && sel.namespaces.length > 0 ? sel.namespaces : [defaultNamespace];
  if (!namespaces.includes(t.namespace)) return false;
  for (const [k, v] of Object.entries(sel.labelSelectors ?? {})) if (t.labels[k] !== v) return false;
  for (const e of sel.expressionSelectors ?? []) {
    const has = e.key in t.labels;
    const v = t.labels[e.key];
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(v!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(v!)
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/**
 * The targets a selector picks, with Chaos Mesh's mode semantics: `one`, `all`, `fixed` (N), `fixed-percent`
 * (ceil of the share), `random-max-percent` (a random share up to the value). Random choices come from
 * `random`, so a seeded source replays the same selection. Returns the matching set too (the blast radius).
 */
export function selectTargets<T extends Selectable>(
  spec: SelectorSpec,
  targets: readonly T[],
  random: () => number,
  defaultNamespace = 'default',
): { matching: T[]; selected: T[] } {
  const matching = targets
    .filter((t) => matches(spec.selector ?? {}, t, defaultNamespace))
    .sort((a, b) => a.id.localeCompare(b.id));
  const pick = (n: number): T[] => {
    const pool = [...matching];
    const out: T[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
    return out;
  };
  const value = Number(spec.value ?? 0);
  let selected: T[];
  switch (spec.mode) {
    case 'all':
      selected = matching;
      break;
    case 'one':
      selected = pick(1);
      break;
    case 'fixed':
      selected = pick(value);
      break;
    case 'fixed-percent':
      selected = pick(Math.ceil((matching.length * value) / 100));
      break;
    case 'random-max-percent':
      selected = pick(Math.ceil((matching.length * Math.floor(random() * (value + 1))) / 100));
      break;
  }
  return { matching, selected };
}
