import { describe, expect, it } from 'vitest';
import { freePorts } from './apiserver.ts';

describe('freePorts', () => {
  it('gives distinct loopback ports within one call, every time (one after another they could repeat)', async () => {
    for (let i = 0; i < 200; i++) {
      const ports = await freePorts(3);
      expect(new Set(ports).size).toBe(3);
      for (const p of ports) expect(p).toBeGreaterThan(0);
    }
  });
});
