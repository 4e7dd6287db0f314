import { createServer, type Server } from 'node:net';

/**
 * `count` distinct free TCP ports on 127.0.0.1 (the kernel's choice). The listeners are all open before any
 * closes: ports taken one after another can repeat (the kernel may hand out a just-freed port again), and a
 * repeat gave etcd the same port for clients and peers, which it cannot bind twice (seen in CI: "bind: address
 * already in use"). Whoever takes several ports for one start takes them in one call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(servers.map(listenOnAnyPort));
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(null)))));
  }
}

/** One free TCP port on 127.0.0.1. Two calls may return the same port: for several, use {@link freePorts}. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

function listenOnAnyPort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}
