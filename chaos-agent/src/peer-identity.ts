import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIP, isIPv4 } from 'node:net';

/**
 * Which process is on the other end of a TCP connection to this agent, read from the kernel rather than
 * taken from the caller: the connection's socket inode from `/proc/net/tcp{,6}` (the row whose local address
 * is the caller's side of the connection and whose remote address is ours), then the process holding that
 * inode among the `/proc/<pid>/fd` links. Only sockets in the agent's own network namespace are visible, so
 * a caller in a container (another namespace) resolves to nothing; the caller's claim is then not trusted.
 */
export async function pidOfTcpPeer(peer: string, agentPort: number): Promise<number | undefined> {
  const address = parseAddress(peer);
  if (!address) return undefined;
  const inode = await socketInode(address, agentPort);
  return inode === undefined ? undefined : pidHoldingSocket(inode);
}

/**
 * `ip` and `port` of a gRPC peer string: `127.0.0.1:5000`, `ipv4:127.0.0.1:5000`, `[::1]:5000`,
 * `ipv6:[::1]:5000`, or `::ffff:127.0.0.1:5000` (an IPv4 caller of a dual-stack listener).
 */
export function parseAddress(peer: string): { ip: string; port: number } | undefined {
  const rest = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(rest);
  const [ip, port] = bracketed
    ? [bracketed[1]!, bracketed[2]!]
    : [rest.slice(0, rest.lastIndexOf(':')), rest.slice(rest.lastIndexOf(':') + 1)];
  if (!isIP(ip) || !/^\d+$/.test(port)) return undefined;
  return { ip, port: Number(port) };
}

/** The kernel's hex form of an address in /proc/net/tcp (IPv4: 4 bytes; IPv6: 4 words, each byte-swapped). */
export function procNetAddress(ip: string, port: number): string {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  if (isIPv4(ip)) {
    const bytes = ip.split('.').map(Number);
    return `${bytes
      .reverse()
      .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
      .join('')}:${hexPort}`;
  }
  const words = expandIPv6(ip);
  // Each 32-bit word is printed in host (little-endian) byte order.
  const hex = [0, 2, 4, 6].map((i) => {
    const word = `${words[i]!.padStart(4, '0')}${words[i + 1]!.padStart(4, '0')}`;
    return word.match(/../g)!.reverse().join('').toUpperCase();
  });
  return `${hex.join('')}:${hexPort}`;
}

function expandIPv6(ip: string): string[] {
  if (ip.includes('.')) {
    // IPv4-mapped (::ffff:127.0.0.1): the last two words from the dotted quad.
    const [head, quad] = [ip.slice(0, ip.lastIndexOf(':') + 1), ip.slice(ip.lastIndexOf(':') + 1)];
    const b = quad.split('.').map(Number);
    ip = `${head}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [left, right] = ip.split('::') as [string, string | undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  return right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
}

/** The inode of the socket whose local address is the caller's and whose remote port is ours. */
async function socketInode(address: { ip: string; port: number }, agentPort: number): Promise<number | undefined> {
  const candidates = isIPv4(address.ip)
    ? [procNetAddress(address.ip, address.port), procNetAddress(`::ffff:${address.ip}`, address.port)]
    : [procNetAddress(address.ip, address.port)];
  const remotePort = `:${agentPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (candidates.includes(f[1]!) && f[2]!.endsWith(remotePort)) {
        const inode = Number(f[9]);
        if (inode > 0) return inode;
      }
    }
  }
  return undefined;
}

/** The process holding the socket `inode` open, scanning /proc/<pid>/fd (ours to read: same user, or root). */
async function pidHoldingSocket(inode: number): Promise<number | undefined> {
  const link = `socket:[${inode}]`;
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === link) return Number(pid);
    }
  }
  return undefined;
}

/**
 * Does process `pid` descend from `ancestor` (or is it `ancestor`)? Walks the parent pids in /proc/<pid>/stat,
 * at most 64 generations. The environment that starts the agent and the services is their common ancestor:
 * a process it did not start cannot pass for one of its services.
 */
export async function descendsFrom(pid: number, ancestor: number): Promise<boolean> {
  let current = pid;
  for (let i = 0; i < 64 && current > 1; i++) {
    if (current === ancestor) return true;
    const stat = await readFile(`/proc/${current}/stat`, 'utf8').catch(() => '');
    if (!stat) return false;
    current = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return current === ancestor;
}
