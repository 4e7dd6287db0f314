import { catalogued, FaultSpecError, type FaultEffect, type NetSpec, type RandomShareSpec } from '@nova/faults';
import type { Target } from '@nova/proto';
import { containerOf, inspectContainer, type ContainerInfo } from './container.ts';
import { iptablesPackets, nftPackets } from './kernel-counters.ts';
import { COMMENT_PREFIX, counted, gatewayOf, inNetns, TABLE_PREFIX, tagOf } from './netns.ts';
import type { ProcessDriver, ProcessInjection } from './process.ts';

// NetworkChaos partition, loss and duplicate with nft and iptables rules in the container's network namespace
// (see netns.ts for the tags that let recovery and a restarted agent remove exactly these rules).

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
  ...catalogued('kernel-partition'),
  apply: (target, spec, _lease, faultId, ctx) => nftFault('kernel-partition', target, spec, faultId, 'drop', ctx?.peer),
};

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
export const kernelLoss: ProcessDriver<RandomShareSpec> = {
  ...catalogued('kernel-loss'),
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
export const kernelDuplicate: ProcessDriver<RandomShareSpec> = {
  ...catalogued('kernel-duplicate'),
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
