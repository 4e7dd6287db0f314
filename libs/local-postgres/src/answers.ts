import { connect } from 'node:net';

/**
 * The 8-byte SSLRequest of PostgreSQL's wire protocol (length 8, code 80877103): the first thing a client may
 * send, answered with one byte, `S` or `N`, before any authentication or connection limit applies.
 */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Resolves when the PostgreSQL server at `url` answers a new connection within `timeoutMs`: it accepts it and
 * answers an SSLRequest. A hung postmaster (stopped, blocked) accepts nothing, although the kernel still
 * completes the TCP handshake, so a plain connect is not enough; no credentials are needed, and a server at
 * its connection limit still answers. Rejects naming what failed.
 */
export function postgresAnswers(url: string, timeoutMs: number): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 5432) });
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`no answer to an SSLRequest within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write(SSL_REQUEST));
    socket.once('data', (chunk: Buffer) => {
      const answer = String.fromCharCode(chunk[0] ?? 0);
      done(
        answer === 'N' || answer === 'S'
          ? undefined
          : new Error(`answered an SSLRequest with ${JSON.stringify(answer)}`),
      );
    });
    socket.once('error', (error) => done(error));
    socket.once('close', () => done(new Error('closed the connection without answering')));
  });
}
