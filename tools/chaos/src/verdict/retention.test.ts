import type { Resource } from '@nova/chaos-spec';
import { describe, expect, it } from 'vitest';
import { MIN_RETENTION_MS, pruneBefore, retentionFor } from './retention.ts';

const schedule = (type: string, block: Record<string, unknown>): Resource =>
  ({
    kind: 'Schedule',
    metadata: { name: 's' },
    spec: { type, [type.charAt(0).toLowerCase() + type.slice(1)]: block },
  }) as never;

describe('retention of a long-running run', () => {
  it('drops every item that started before the cutoff, wherever it sits, and keeps the order of the rest', () => {
    const items = [{ at: 5 }, { at: 1 }, { at: 7 }, { at: 3 }, { at: 9 }, { at: 6 }];
    expect(pruneBefore(items, 6)).toBe(3);
    expect(items).toEqual([{ at: 7 }, { at: 9 }, { at: 6 }]);
    expect(pruneBefore(items, 0)).toBe(0);
    expect(pruneBefore(items, 100)).toBe(3);
    expect(items).toEqual([]);
  });

  it('keeps twice the longest fault of the schedules, at least 15 minutes, an hour when it cannot tell', () => {
    expect(retentionFor([schedule('NetworkChaos', { duration: '3s' })])).toBe(MIN_RETENTION_MS);
    expect(
      retentionFor([schedule('NetworkChaos', { duration: '3s' }), schedule('StressChaos', { duration: '20m' })]),
    ).toBe(40 * 60_000);
    expect(retentionFor([schedule('Workflow', { entry: 'x', templates: [] })])).toBe(60 * 60_000);
  });
});
