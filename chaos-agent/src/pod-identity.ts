import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { parseAddress, procNetAddress } from './peer-identity.ts';

/** The process on the other end of a connection from another network namespace (a pod, a container). */
export interface PeerProcess {
  /** Its pid as the agent sees it (the host's pid namespace: the agent runs with hostPID). */
  pid: number;
  /** Its pid in its own pid namespace: what the process itself reports as `process.pid`. */
  nsPid: number;
  /** Its /proc/<pid>/cgroup, which names the pod (Kubernetes) or container (Docker) it runs in. */
  cgroup: string;
}

/**
 * The process behind a TCP connection to this agent from any network namespace on this host. The connection's
 * socket is looked up in each namespace's own /proc/<pid>/net/tcp{,6} (the row whose local address is the
 * caller's side and whose remote port is ours), then the process holding it among that namespace's
 * processes. Nothing is taken from the caller: a pod cannot claim another pod's process.
 */
export async function peerProcess(peer: string, agentPort: number): Promise<PeerProcess | undefined> {
  const address = parseAddress(peer);
  if (!address) return undefined;
  const local = isIPv4(address.ip)
    ? [procNetAddress(address.ip, address.port), procNetAddress(`::ffff:${address.ip}`, address.port)]
    : [procNetAddress(address.ip, address.port)];
  const remotePort = `:${agentPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const pids of (await processesByNetns()).values()) {
    const inode = await socketIn(pids[0]!, local, remotePort);
    if (inode === undefined) continue;
    for (const pid of pids) {
      if (!(await holds(pid, inode))) continue;
      const [status, cgroup] = await Promise.all([
        readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''),
        readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''),
      ]);
      // NSpid lists the pid in each nested pid namespace, outermost first.
      const nsPid = Number(/^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1) ?? pid);
      return { pid, nsPid, cgroup };
    }
  }
  return undefined;
}

/** Every process, grouped by the network namespace it is in. */
async function processesByNetns(): Promise<Map<string, number[]>> {
  const groups = new Map<string, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = await readlink(`/proc/${entry}/ns/net`).catch(() => undefined);
    if (!ns) continue;
    const list = groups.get(ns) ?? [];
    list.push(Number(entry));
    groups.set(ns, list);
  }
  return groups;
}

/** The inode of the socket, in the network namespace of `pid`, with a local address in `local` and our port. */
async function socketIn(pid: number, local: readonly string[], remotePort: string): Promise<number | undefined> {
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && local.includes(f[1]!) && f[2]!.endsWith(remotePort) && Number(f[9]) > 0)
        return Number(f[9]);
    }
  }
  return undefined;
}

async function holds(pid: number, inode: number): Promise<boolean> {
  const link = `socket:[${inode}]`;
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === link) return true;
  }
  return false;
}

/**
 * The UID of the Kubernetes pod a process runs in, from its cgroup: the kubelet puts each pod under
 * `kubepods…/pod<uid>` (cgroupfs driver) or `kubepods-<qos>-pod<uid with _>.slice` (systemd driver), in cgroup
 * v1 and v2 alike. Undefined for a process outside any pod.
 */
export function podUidOf(cgroup: string): string | undefined {
  const m = /kubepods[^\n]*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(cgroup);
  return m?.[1]?.replace(/_/g, '-');
}
