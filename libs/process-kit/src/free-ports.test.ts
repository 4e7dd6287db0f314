import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from './free-ports.ts';

describe('freePorts', () => {
  it('gives distinct loopback ports within one call, every time (one after another they could repeat)', async () => {
    for (let i = 0; i < 200; i++) {
      const ports = await freePorts(5);
      expect(new Set(ports).size).toBe(5);
      for (const p of ports) expect(p).toBeGreaterThan(1023);
    }
  });

  it('gives ports that are free again when it returns: each one can be bound on 127.0.0.1', async () => {
    const ports = await freePorts(3);
    for (const port of ports) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('freePort gives one bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
  });
});
