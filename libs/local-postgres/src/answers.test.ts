import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresAnswers } from './answers.ts';
import { freePort } from '@nova/process-kit';
import { startLocalPostgres } from './index.ts';

// The probe against a real PostgreSQL (answering, then SIGSTOPped: a hung postmaster), and against TCP servers
// that accept and answer wrongly, to see each failure named.

let fake: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (fake ? fake.close(r) : r(undefined)));
  fake = undefined;
});

async function fakeServer(onConnection: (socket: Socket) => void): Promise<string> {
  fake = createServer(onConnection);
  await new Promise<void>((r) => fake!.listen(0, '127.0.0.1', r));
  const address = fake.address();
  return `postgres://u@127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/db`;
}

describe('postgresAnswers', () => {
  it('resolves for a real server, rejects at the timeout while its postmaster is stopped, and resolves once it goes on', async () => {
    const server = await startLocalPostgres({ databaseUrl: '' });
    const pid = server.pid!;
    try {
      await expect(postgresAnswers(server.url, 2_000)).resolves.toBeUndefined();
      process.kill(pid, 'SIGSTOP');
      try {
        const started = performance.now();
        await expect(postgresAnswers(server.url, 300)).rejects.toThrow('no answer to an SSLRequest within 300 ms');
        expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await expect(postgresAnswers(server.url, 2_000)).resolves.toBeUndefined();
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('names a server that closes without answering, one that answers something else, and a refused connection', async () => {
    const closes = await fakeServer((s) => s.once('data', () => s.destroy()));
    await expect(postgresAnswers(closes, 1_000)).rejects.toThrow('closed the connection without answering');
    await new Promise((r) => fake!.close(r));
    const wrong = await fakeServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    await expect(postgresAnswers(wrong, 1_000)).rejects.toThrow('answered an SSLRequest with "H"');
    await new Promise((r) => fake!.close(r));
    fake = undefined;
    const port = await freePort();
    await expect(postgresAnswers(`postgres://u@127.0.0.1:${port}/db`, 1_000)).rejects.toThrow(/ECONNREFUSED/);
  });
});
