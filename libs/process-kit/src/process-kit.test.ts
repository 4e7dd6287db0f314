import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eachLine, nodeEntry, OwnedProcess, waitForLine, waitUntil } from './index.ts';

const node = (name: string, script: string): OwnedProcess =>
  new OwnedProcess({ name, command: process.execPath, args: ['-e', script] });

describe('eachLine', () => {
  it('joins a line split across chunks, skips empty lines, and delivers a last line without newline at the end', () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    eachLine(stream, (l) => lines.push(l));
    stream.write('{"msg":"rea');
    stream.write('dy"}\n\nsecond\r\nthi');
    expect(lines).toEqual(['{"msg":"ready"}', 'second']);
    stream.end('rd');
    return new Promise<void>((resolve) =>
      stream.on('end', () => {
        expect(lines).toEqual(['{"msg":"ready"}', 'second', 'third']);
        resolve();
      }),
    );
  });
});

describe('OwnedProcess', () => {
  it('waits for a ready line (even one printed before the wait) and keeps the tail', async () => {
    const p = node(
      'ready',
      "console.log('booting'); console.log('ready on 4242'); setInterval(() => {}, 1000)",
    ).start();
    const m = await waitForLine(p, /ready on (\d+)/, 5_000);
    expect(m[1]).toBe('4242');
    expect(await waitForLine(p, /booting/, 100)).toBeTruthy();
    expect(p.tail).toEqual(['booting', 'ready on 4242']);
    expect(await p.stop()).toBe(null);
    expect(p.running).toBe(false);
  });

  it('rejects the wait with the last lines when the process exits first, or when the time runs out', async () => {
    const dies = node('dies', "console.error('cannot bind'); process.exit(3)").start();
    await expect(waitForLine(dies, /ready/, 5_000)).rejects.toThrow(
      /dies exited \(code 3\) before it was ready:\ncannot bind/,
    );
    const silent = node('silent', 'setInterval(() => {}, 1000)').start();
    await expect(waitForLine(silent, /ready/, 200)).rejects.toThrow(
      /silent printed no line matching \/ready\/ within 200 ms/,
    );
    await silent.stop();
  });

  it('ends a process that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const p = node(
      'stubborn',
      "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)",
    ).start();
    await waitForLine(p, /up/, 5_000);
    const started = performance.now();
    await p.stop('SIGTERM', 300);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    expect(p.child?.signalCode).toBe('SIGKILL');
    expect(p.stoppedOnPurpose).toBe(true);
  });

  it('reports a command that cannot start as exited, and starts again after an exit', async () => {
    const missing = new OwnedProcess({ name: 'missing', command: '/nonexistent/binary', args: [] }).start();
    expect(await missing.exited).toBe(null);
    expect(missing.running).toBe(false);
    expect(missing.tail.join('\n')).toMatch(/missing: spawn \/nonexistent\/binary ENOENT/);
    const exits: Array<number | null> = [];
    const once = new OwnedProcess({
      name: 'once',
      command: process.execPath,
      args: ['-e', 'process.exit(7)'],
      onExit: (code) => exits.push(code),
    }).start();
    await once.exited;
    const firstPid = once.pid;
    once.start();
    await once.exited;
    expect(exits).toEqual([7, 7]);
    expect(once.pid).not.toBe(firstPid);
  });

  it('polls a readiness probe while the process lives, and stops polling when it dies', async () => {
    const p = node('probe', 'setTimeout(() => process.exit(5), 300)').start();
    let calls = 0;
    await expect(waitUntil(p, async () => ++calls < 0, 5_000, 'probe answering')).rejects.toThrow(
      /probe exited \(code 5\) before probe answering/,
    );
    expect(calls).toBeGreaterThan(0);
    const q = node('probe2', 'setInterval(() => {}, 1000)').start();
    let n = 0;
    await waitUntil(q, async () => ++n >= 3, 5_000);
    expect(n).toBe(3);
    await q.stop();
  });

  it('runs a workspace entry with tsx under the @nova/source condition', () => {
    expect(nodeEntry('/x/main.ts', { nodeArgs: ['--cpu-prof'], args: ['--port', '1'] })).toEqual({
      command: process.execPath,
      args: ['--cpu-prof', '--conditions=@nova/source', '--import', 'tsx', '/x/main.ts', '--port', '1'],
    });
  });
});
