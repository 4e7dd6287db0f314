import { parseDuration, type Resource } from '@nova/chaos-spec';

/** The least a long-running run keeps of its load samples and observations, in ms. */
export const MIN_RETENTION_MS = 15 * 60_000;

/**
 * Removes, in place, the items that started before `cutoff` (ms on the run's clock); keeps the others in their
 * order. Load samples are pushed when a request ends, so a slow one can sit behind newer ones: every item is
 * looked at, not just a prefix. Returns how many were removed.
 */
export function pruneBefore<T extends { readonly at: number }>(items: T[], cutoff: number): number {
  let kept = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.at >= cutoff) items[kept++] = item;
  }
  const removed = items.length - kept;
  items.length = kept;
  return removed;
}

/**
 * How long a run of these Schedules must keep its samples, in ms: each child's verdict reads its baseline,
 * fault and recovery windows, so at least twice the longest `duration` a schedule's chaos declares, and never
 * under {@link MIN_RETENTION_MS}. A child whose length cannot be read here (a Workflow, no duration) keeps an hour.
 */
export function retentionFor(schedules: readonly Resource[]): number {
  let longest = 0;
  for (const s of schedules) {
    const spec = s.spec as { type?: string } & Record<string, unknown>;
    const type = spec.type ?? '';
    const block = spec[type.charAt(0).toLowerCase() + type.slice(1)] as { duration?: unknown } | undefined;
    const ms = typeof block?.duration === 'string' ? parseDuration(block.duration) : undefined;
    longest = Math.max(longest, ms === undefined ? 30 * 60_000 : ms);
  }
  return Math.max(MIN_RETENTION_MS, 2 * longest);
}
