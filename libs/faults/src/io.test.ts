import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultRuntime } from './runtime.ts';

const dir = mkdtempSync(join(tmpdir(), 'nova-io-'));
const data = join(dir, 'data.txt');
const other = join(dir, 'other.log');
writeFileSync(data, 'payload');
writeFileSync(other, 'other');

describe('IO faults', () => {
  it('delays fs calls on matching paths only, through the promise API and ESM named imports', async () => {
    const rt = new FaultRuntime();
    await rt.apply('io', 'io-delay', { path: `${dir}/*.txt`, latencyMs: 120, methods: ['read'] }, 60_000);
    let t = performance.now();
    expect(await readFile(data, 'utf8')).toBe('payload');
    expect(performance.now() - t).toBeGreaterThanOrEqual(115);
    t = performance.now();
    await fs.promises.readFile(other);
    expect(performance.now() - t).toBeLessThan(50);
    await rt.recover('io');
    t = performance.now();
    await readFile(data);
    expect(performance.now() - t).toBeLessThan(50);
    // One read of a .txt seen and delayed by about 120 ms (the other file's read was not of the path).
    const effect = rt.effect('io')!;
    expect(effect).toMatchObject({ took: true, figures: { seen: 1, affected: 1 } });
    expect(effect.figures['addedMeanMs']).toBeGreaterThanOrEqual(119);
  });

  it('fails fs calls with the chosen errno, in both APIs, and restores the exact originals', async () => {
    const originalPromise = fs.promises.readFile;
    const originalCallback = fs.readFile;
    const rt = new FaultRuntime();
    await rt.apply('io', 'io-fault', { path: `${dir}/**`, errno: 28, methods: ['read', 'write'] }, 60_000);
    await expect(fs.promises.readFile(data)).rejects.toMatchObject({ code: 'ENOSPC', syscall: 'readFile', path: data });
    await expect(fs.promises.writeFile(other, 'x')).rejects.toMatchObject({ code: 'ENOSPC' });
    const err = await new Promise((resolve) => fs.readFile(data, (e) => resolve(e)));
    expect(err).toMatchObject({ code: 'ENOSPC' });
    // Methods not chosen are untouched.
    expect((await fs.promises.stat(data)).size).toBe(7);
    await rt.recover('io');
    expect(rt.effect('io')).toEqual({
      took: true,
      summary: 'failed with ENOSPC 3 of 3 fs calls',
      figures: { seen: 3, affected: 3, decisionHash: expect.any(Number) },
      perSecond: expect.any(Array),
    });
    expect(fs.promises.readFile).toBe(originalPromise);
    expect(fs.readFile).toBe(originalCallback);
    expect(await fs.promises.readFile(data, 'utf8')).toBe('payload');
  });

  it('names the errno and methods it accepts', async () => {
    const rt = new FaultRuntime();
    await expect(rt.apply('x', 'io-fault', { path: '/x', errno: 'EWHAT' }, 1000)).rejects.toThrow(
      /spec.errno must be an errno number \(5 = EIO\) or name/,
    );
    await expect(rt.apply('x', 'io-delay', { path: '/x', latencyMs: 1, methods: ['teleport'] }, 1000)).rejects.toThrow(
      /spec.methods has "teleport"; valid methods: read, write/,
    );
  });
});
