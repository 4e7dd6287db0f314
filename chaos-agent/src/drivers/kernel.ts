import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { FaultSpecError, SpecReader, type FaultEffect } from '@nova/faults';
import type { Target } from '@nova/proto';
import { containerOf, exec, inspectContainer, markedContainers, type ContainerInfo } from './container.ts';
import { iptablesPackets, nftPackets, qdiscStats } from './kernel-counters.ts';
import { lastingInjection, type ProcessDriver, type ProcessInjection } from './process.ts';

/**
 * Kernel-level network faults inside a container's network namespace (`nsenter -t <pid> -n`), as Chaos
 * Mesh's daemon does on a node. Every rule carries a tag — nft tables named `nova_chaos_<id>`, iptables
 * rules commented `nova-chaos:<id>`, tc root qdiscs with handle `4e43:` — so recovery removes exactly what
 * was added, and {@link removeLeftovers} finds what a crashed run left behind.
 */

const TABLE_PREFIX = 'nova_chaos_';
const COMMENT_PREFIX = 'nova-chaos:';
const QDISC_HANDLE = '4e43:';

/** A short tag of a fault id, usable in nft table names and iptables comments. */
export function tagOf(faultId: string): string {
  return createHash('sha256').update(faultId).digest('hex').slice(0, 12);
}

/** Runs `cmd` in the network namespace of the process `pid`; `input` goes to its stdin (`nft -f -`). */
function inNetns(pid: number, cmd: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) return exec('nsenter', ['-t', String(pid), '-n', cmd, ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', ['-t', String(pid), '-n', cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/** The container's default gateway: the host side of its bridge, where the agent listens. Never faulted. */
async function gatewayOf(pid: number): Promise<string | undefined> {
  const out = await inNetns(pid, 'ip', ['-4', 'route', 'show', 'default']);
  return /via (\S+)/.exec(out)?.[1];
}

/** The interface carrying the default route (eth0 in Docker). */
async function deviceOf(pid: number): Promise<string> {
  const out = await inNetns(pid, 'ip', ['-4', 'route', 'show', 'default']);
  return /dev (\S+)/.exec(out)?.[1] ?? 'eth0';
}

/** The IPv4 addresses of the peer containers, resolved at apply time (a restarted container may move). */
async function peerAddresses(kind: string, peers: readonly string[]): Promise<string[]> {
  const ips: string[] = [];
  for (const p of peers) {
    const info = await inspectContainer(p).catch(() => undefined);
    if (!info) throw new FaultSpecError(kind, 'peers', `no container ${p}`);
    ips.push(...info.ips.filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)));
  }
  return [...new Set(ips)];
}

type Direction = 'to' | 'from' | 'both';
const DIRECTIONS = ['to', 'from', 'both'] as const;

interface NetSpec {
  direction: Direction;
  peers: string[];
}

function readNet(r: SpecReader, opts: { peersRequired: boolean }): NetSpec {
  const peers = r.strings('peers') ?? [];
  if (opts.peersRequired && peers.length === 0)
    throw new FaultSpecError(r.kind, 'peers', 'must name at least one peer container');
  return { direction: r.string('direction', { default: 'to', oneOf: DIRECTIONS }) as Direction, peers };
}

/** Runs `undo` unless the container (its network namespace) is gone, in which case there is nothing left. */
async function whileAlive(c: ContainerInfo, undo: (pid: number) => Promise<unknown>): Promise<void> {
  const now = await inspectContainer(c.id).catch(() => undefined);
  if (!now || !now.running || now.pid !== c.pid) return;
  await undo(c.pid);
}

/** How often an active kernel fault's counters are read for its live effect, in ms. */
export const LIVE_SAMPLE_MS = 1_000;

/**
 * A kernel fault whose evidence is its rules' counters: read every {@link LIVE_SAMPLE_MS} while the fault
 * holds (so ListFaults, the API and the dashboard show it live), and a last time at recovery while the rules
 * still exist; then `remove` deletes the rules. A container gone first took its counters with it.
 */
function counted(
  c: ContainerInfo,
  read: (pid: number) => Promise<FaultEffect>,
  remove: (pid: number) => Promise<unknown>,
): ProcessInjection {
  let effect: FaultEffect = { took: false, summary: `rule counters in ${c.name} not read yet`, figures: {} };
  let sampling: Promise<void> | undefined;
  let ended = false;
  const sample = (): Promise<void> =>
    (sampling ??= read(c.pid)
      .then((e) => {
        // A reading that finishes after recovery must not overwrite the final one.
        if (!ended) effect = e;
      })
      .catch(() => {
        // The namespace may be going away; the reading at recovery decides.
      })
      .finally(() => (sampling = undefined)));
  const timer = setInterval(() => void sample(), LIVE_SAMPLE_MS);
  timer.unref();
  return lastingInjection(
    async () => {
      clearInterval(timer);
      await sampling;
      ended = true;
      effect = {
        took: false,
        summary: `container ${c.name} was gone before its rule counters could be read`,
        figures: {},
      };
      await whileAlive(c, async (pid) => {
        effect = await read(pid).catch((error: Error) => ({
          took: false,
          summary: `reading the rule counters failed: ${error.message}`,
          figures: {},
        }));
        await remove(pid);
      });
    },
    () => effect,
  );
}

/** The effect of rules that acted on `packets` packets (`verb`: "dropped", "copied"). */
function packetEffect(verb: string, packets: number, where: string): FaultEffect {
  return { took: packets > 0, summary: `${verb} ${packets} packets (${where})`, figures: { packets } };
}

/** An nft table with an input and/or an output chain, each rule matching the peers (or everything). */
function nftScript(
  table: string,
  spec: NetSpec,
  peers: string[],
  gateway: string | undefined,
  verdict: string,
): string {
  const set = peers.length ? `{ ${peers.join(', ')} }` : undefined;
  const chains: string[] = [];
  const exempt = (dir: 'saddr' | 'daddr'): string => (gateway ? `    ip ${dir} ${gateway} accept\n` : '');
  if (spec.direction === 'to' || spec.direction === 'both') {
    chains.push(
      `  chain out {\n    type filter hook output priority 0; policy accept;\n${exempt('daddr')}    ${set ? `ip daddr ${set} ` : 'meta l4proto != icmp '}counter ${verdict}\n  }`,
    );
  }
  if (spec.direction === 'from' || spec.direction === 'both') {
    chains.push(
      `  chain in {\n    type filter hook input priority 0; policy accept;\n${exempt('saddr')}    ${set ? `ip saddr ${set} ` : 'meta l4proto != icmp '}counter ${verdict}\n  }`,
    );
  }
  return `table inet ${table} {\n${chains.join('\n')}\n}\n`;
}

async function nftFault(
  kind: string,
  target: Target,
  spec: NetSpec,
  faultId: string,
  verdict: string,
  peer?: string,
): Promise<ProcessInjection> {
  const c = await containerOf(kind, target, peer);
  const peers = await peerAddresses(kind, spec.peers);
  if (spec.peers.length && peers.length === 0)
    throw new FaultSpecError(kind, 'peers', `the peer containers ${spec.peers.join(', ')} have no IPv4 address`);
  const table = `${TABLE_PREFIX}${tagOf(faultId)}`;
  await inNetns(c.pid, 'nft', ['-f', '-'], nftScript(table, spec, peers, await gatewayOf(c.pid), verdict));
  return counted(
    c,
    async (pid) =>
      packetEffect(
        verdict === 'drop' ? 'dropped' : verdict,
        nftPackets(await inNetns(pid, 'nft', ['list', 'table', 'inet', table])),
        `nft counters in ${c.name}`,
      ),
    (pid) => inNetns(pid, 'nft', ['delete', 'table', 'inet', table]),
  );
}

/** NetworkChaos partition: nft DROP between the target and its peers, in the chosen direction. */
export const kernelPartition: ProcessDriver<NetSpec> = {
  kind: 'kernel-partition',
  layer: 'kernel',
  description: 'drop packets to/from peer containers in the target container (nft)',
  parse(spec) {
    const r = new SpecReader('kernel-partition', spec);
    r.only('direction', 'peers');
    return readNet(r, { peersRequired: true });
  },
  apply: (target, spec, _lease, faultId, ctx) => nftFault('kernel-partition', target, spec, faultId, 'drop', ctx?.peer),
};

/** A spec of direction, peers and a percentage of packets. */
function readRandomShare(kind: string, spec: unknown, opts: { peersRequired: boolean }): NetSpec & { percent: number } {
  const r = new SpecReader(kind, spec);
  r.only('direction', 'peers', 'percent');
  return { ...readNet(r, opts), percent: r.number('percent', { min: 0, max: 100 }) };
}

/** iptables matches for `percent` % of the packets, tagged with the fault. */
function randomShare(percent: number, faultId: string): string[] {
  return [
    '-m',
    'statistic',
    '--mode',
    'random',
    '--probability',
    (percent / 100).toFixed(4),
    '-m',
    'comment',
    '--comment',
    `${COMMENT_PREFIX}${tagOf(faultId)}`,
  ];
}

/** NetworkChaos loss: iptables `statistic --mode random` DROP, to/from the peers (or all but the agent). */
export const kernelLoss: ProcessDriver<NetSpec & { percent: number }> = {
  kind: 'kernel-loss',
  layer: 'kernel',
  description: 'drop a random share of packets in the target container (iptables statistic)',
  parse: (spec) => readRandomShare('kernel-loss', spec, { peersRequired: false }),
  async apply(target, spec, _lease, faultId, ctx) {
    const c = await containerOf('kernel-loss', target, ctx?.peer);
    const peers = await peerAddresses('kernel-loss', spec.peers);
    const gateway = await gatewayOf(c.pid);
    const rules: string[][] = [];
    const add = (chain: 'INPUT' | 'OUTPUT', addrFlag: '-s' | '-d'): void => {
      const match = [...randomShare(spec.percent, faultId), '-j', 'DROP'];
      if (peers.length) for (const ip of peers) rules.push([chain, addrFlag, ip, ...match]);
      else rules.push([chain, ...(gateway ? ['!', addrFlag, gateway] : []), ...match]);
    };
    if (spec.direction !== 'from') add('OUTPUT', '-d');
    if (spec.direction !== 'to') add('INPUT', '-s');
    return iptablesRules(c, 'filter', rules, faultId, 'dropped');
  },
};

/** NetworkChaos duplicate: iptables `TEE` of a random share of the packets to each peer (exact copies). */
export const kernelDuplicate: ProcessDriver<NetSpec & { percent: number }> = {
  kind: 'kernel-duplicate',
  layer: 'kernel',
  description: 'duplicate a random share of packets sent to peer containers (iptables TEE)',
  parse: (spec) => readRandomShare('kernel-duplicate', spec, { peersRequired: true }),
  async apply(target, spec, _lease, faultId, ctx) {
    const c = await containerOf('kernel-duplicate', target, ctx?.peer);
    const peers = await peerAddresses('kernel-duplicate', spec.peers);
    const rules = peers.map((ip) => [
      'POSTROUTING',
      '-d',
      ip,
      ...randomShare(spec.percent, faultId),
      '-j',
      'TEE',
      '--gateway',
      ip,
    ]);
    return iptablesRules(c, 'mangle', rules, faultId, 'copied');
  },
};

/**
 * Appends the rules (all or none) and returns how to delete exactly them; their packet counters (rules
 * tagged with the fault) are the effect, `verb` saying what the rules did to those packets.
 */
async function iptablesRules(
  c: ContainerInfo,
  table: 'filter' | 'mangle',
  rules: string[][],
  faultId: string,
  verb: string,
): Promise<ProcessInjection> {
  const added: string[][] = [];
  const remove = async (pid: number): Promise<void> => {
    for (const rule of added.splice(0).reverse())
      await inNetns(pid, 'iptables', ['-w', '-t', table, '-D', ...rule]).catch(() => undefined);
  };
  try {
    for (const rule of rules) {
      await inNetns(c.pid, 'iptables', ['-w', '-t', table, '-A', ...rule]);
      added.push(rule);
    }
  } catch (error) {
    await remove(c.pid);
    throw error;
  }
  const tag = `${COMMENT_PREFIX}${tagOf(faultId)}`;
  return counted(
    c,
    async (pid) =>
      packetEffect(
        verb,
        iptablesPackets(await inNetns(pid, 'iptables', ['-w', '-t', table, '-L', '-v', '-n', '-x']), tag),
        `iptables ${table} counters in ${c.name}`,
      ),
    remove,
  );
}

/** NetworkChaos bandwidth: a `tbf` root qdisc on the container's interface (egress), as Chaos Mesh does. */
export const kernelBandwidth: ProcessDriver<{ bytesPerSecond: number; limitBytes: number; bufferBytes: number }> = {
  kind: 'kernel-bandwidth',
  layer: 'kernel',
  description: 'limit the target container egress rate (tc tbf)',
  parse(spec) {
    const r = new SpecReader('kernel-bandwidth', spec);
    r.only('bytesPerSecond', 'limitBytes', 'bufferBytes');
    const bytesPerSecond = r.number('bytesPerSecond', { min: 1, max: 1e11 });
    return {
      bytesPerSecond,
      limitBytes: r.number('limitBytes', { min: 1, max: 2 ** 31, default: 20_000, integer: true }),
      // At least one MTU-sized packet, or nothing ever leaves.
      bufferBytes: Math.max(r.number('bufferBytes', { min: 1, max: 2 ** 31, default: 10_000, integer: true }), 1_600),
    };
  },
  async apply(target, spec, _lease, _faultId, ctx) {
    const c = await containerOf('kernel-bandwidth', target, ctx?.peer);
    const dev = await deviceOf(c.pid);
    await inNetns(c.pid, 'tc', [
      'qdisc',
      'add',
      'dev',
      dev,
      'root',
      'handle',
      QDISC_HANDLE,
      'tbf',
      'rate',
      `${Math.round(spec.bytesPerSecond * 8)}bit`,
      'burst',
      String(spec.bufferBytes),
      'limit',
      String(spec.limitBytes),
    ]);
    return qdiscFault(c, dev, (s) => ({
      // The limit bit when the qdisc held packets back over its rate (or dropped them off its full queue).
      took: s.overlimits > 0 || s.dropped > 0,
      summary: `tbf sent ${s.sentBytes} bytes in ${s.sentPackets} packets from ${c.name}; ${s.overlimits} held over the rate, ${s.dropped} dropped`,
      figures: { ...s },
    }));
  },
};

/**
 * Does this kernel have the netem qdisc? Probed in a throwaway network namespace. This VM's kernel has none
 * (`Specified qdisc kind is unknown`); a laptop's usually has.
 */
export async function probeNetem(): Promise<{ available: boolean; detail: string }> {
  try {
    await exec('unshare', ['-n', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    return { available: true, detail: 'netem qdisc available' };
  } catch (error) {
    return { available: false, detail: (error as Error).message.replace(/^.*?: /, '') };
  }
}

/** NetworkChaos delay/corrupt/duplicate/loss through netem (only registered where {@link probeNetem} found it). */
export const kernelNetem: ProcessDriver<{
  delayMs: number;
  jitterMs: number;
  correlation: number;
  lossPercent: number;
  corruptPercent: number;
}> = {
  kind: 'kernel-netem',
  layer: 'kernel',
  description: 'netem on the target container egress (delay, jitter, correlation, loss, corrupt)',
  parse(spec) {
    const r = new SpecReader('kernel-netem', spec);
    r.only('delayMs', 'jitterMs', 'correlation', 'lossPercent', 'corruptPercent');
    return {
      delayMs: r.number('delayMs', { min: 0, max: 600_000, default: 0 }),
      jitterMs: r.number('jitterMs', { min: 0, max: 600_000, default: 0 }),
      correlation: r.number('correlation', { min: 0, max: 100, default: 0 }),
      lossPercent: r.number('lossPercent', { min: 0, max: 100, default: 0 }),
      corruptPercent: r.number('corruptPercent', { min: 0, max: 100, default: 0 }),
    };
  },
  async apply(target, spec, _lease, _faultId, ctx) {
    const c = await containerOf('kernel-netem', target, ctx?.peer);
    const dev = await deviceOf(c.pid);
    const args = ['qdisc', 'add', 'dev', dev, 'root', 'handle', QDISC_HANDLE, 'netem'];
    if (spec.delayMs) args.push('delay', `${spec.delayMs}ms`, `${spec.jitterMs}ms`, `${spec.correlation}%`);
    if (spec.lossPercent) args.push('loss', `${spec.lossPercent}%`);
    if (spec.corruptPercent) args.push('corrupt', `${spec.corruptPercent}%`);
    await inNetns(c.pid, 'tc', args);
    return qdiscFault(c, dev, (s) => ({
      took: s.sentPackets > 0,
      summary: `netem passed ${s.sentPackets} packets from ${c.name} (${s.dropped} dropped)`,
      figures: { ...s },
    }));
  },
};

/** A root qdisc fault: its statistics (`tc -s`), judged by `judge`, are the effect; recovery deletes it. */
function qdiscFault(
  c: ContainerInfo,
  dev: string,
  judge: (s: NonNullable<ReturnType<typeof qdiscStats>>) => FaultEffect,
): ProcessInjection {
  return counted(
    c,
    async (pid) => {
      const stats = qdiscStats(await inNetns(pid, 'tc', ['-s', 'qdisc', 'show', 'dev', dev]), QDISC_HANDLE);
      return stats
        ? judge(stats)
        : { took: false, summary: `no qdisc ${QDISC_HANDLE} on ${dev} of ${c.name} at recovery`, figures: {} };
    },
    (pid) => inNetns(pid, 'tc', ['qdisc', 'del', 'dev', dev, 'root', 'handle', QDISC_HANDLE]),
  );
}

/**
 * Removes every tagged rule from every marked container: what a previous agent run (killed mid-fault)
 * left behind. Returns a line per container cleaned.
 */
export async function removeLeftovers(): Promise<string[]> {
  const cleaned: string[] = [];
  for (const id of await markedContainers()) {
    const c = await inspectContainer(id).catch(() => undefined);
    if (!c?.running) continue;
    const removed: string[] = [];
    const tables = await inNetns(c.pid, 'nft', ['list', 'tables']).catch(() => '');
    for (const m of tables.matchAll(/^table (\S+) (nova_chaos_\w+)$/gm)) {
      await inNetns(c.pid, 'nft', ['delete', 'table', m[1]!, m[2]!]);
      removed.push(`nft ${m[2]}`);
    }
    for (const table of ['filter', 'mangle']) {
      const rules = await inNetns(c.pid, 'iptables', ['-w', '-t', table, '-S']).catch(() => '');
      for (const line of rules.split('\n')) {
        if (!line.startsWith('-A ') || !line.includes(COMMENT_PREFIX)) continue;
        // iptables -S prints a rule as its own -A command line; -D takes the same words.
        await inNetns(c.pid, 'iptables', ['-w', '-t', table, '-D', ...splitRule(line.slice(3))]);
        removed.push(`iptables ${table}`);
      }
    }
    const dev = await deviceOf(c.pid).catch(() => 'eth0');
    const qdiscs = await inNetns(c.pid, 'tc', ['qdisc', 'show', 'dev', dev]).catch(() => '');
    if (new RegExp(`qdisc \\w+ ${QDISC_HANDLE} (dev \\S+ )?root`).test(qdiscs)) {
      await inNetns(c.pid, 'tc', ['qdisc', 'del', 'dev', dev, 'root', 'handle', QDISC_HANDLE]);
      removed.push('tc qdisc');
    }
    if (removed.length) cleaned.push(`${c.name}: ${removed.join(', ')}`);
  }
  return cleaned;
}

/** Splits an `iptables -S` rule into words, honouring the double quotes around comments. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}
