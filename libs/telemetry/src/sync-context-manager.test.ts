import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { SyncContextManager } from './sync-context-manager.ts';

const KEY = createContextKey('test');
const ctx = (value: string) => ROOT_CONTEXT.setValue(KEY, value);
const seen = (m: SyncContextManager) => m.active().getValue(KEY);

describe('SyncContextManager', () => {
  it('makes a context active for the synchronous call, nested, and restores the outer one after', () => {
    const m = new SyncContextManager();
    expect(m.active()).toBe(ROOT_CONTEXT);
    const inner = m.with(ctx('a'), () => {
      expect(seen(m)).toBe('a');
      const deeper = m.with(ctx('b'), (x: number) => [seen(m), x], undefined, 7);
      return [deeper, seen(m)];
    });
    expect(inner).toEqual([['b', 7], 'a']);
    expect(m.active()).toBe(ROOT_CONTEXT);
  });

  it('restores the outer context when the callback throws', () => {
    const m = new SyncContextManager();
    expect(() =>
      m.with(ctx('a'), () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(m.active()).toBe(ROOT_CONTEXT);
  });

  it('passes thisArg and binds functions to a context; other values are returned as they are', () => {
    const m = new SyncContextManager();
    const self = { n: 1 };
    expect(
      m.with(
        ROOT_CONTEXT,
        function (this: typeof self) {
          return this.n;
        },
        self,
      ),
    ).toBe(1);
    const bound = m.bind(ctx('bound'), function (this: typeof self, y: number) {
      return [seen(m), this.n, y];
    });
    expect(bound.call(self, 2)).toEqual(['bound', 1, 2]);
    expect(m.active()).toBe(ROOT_CONTEXT);
    const target = { x: 1 };
    expect(m.bind(ctx('x'), target)).toBe(target);
  });

  it('does not carry a context past an await (synchronous only, by design)', async () => {
    const m = new SyncContextManager();
    const after = await m.with(ctx('a'), async () => {
      expect(seen(m)).toBe('a');
      await null;
      return seen(m);
    });
    expect(after).toBeUndefined();
  });

  it('disable() drops back to the root context', () => {
    const m = new SyncContextManager();
    m.with(ctx('a'), () => {
      m.disable();
      expect(m.active()).toBe(ROOT_CONTEXT);
    });
  });
});
