/**
 * Readers of the kernel's own counters for the rules a kernel fault added: the fault's effect evidence,
 * read just before the rules are deleted. Pure parsers of the tools' text output, so they are tested on
 * recorded listings as well as in the containers environment.
 */

/** Packets counted by the `counter` statements of one nft table listing (`nft list table inet <name>`). */
export function nftPackets(listing: string): number {
  let packets = 0;
  for (const m of listing.matchAll(/counter packets (\d+)/g)) packets += Number(m[1]);
  return packets;
}

/**
 * Packets matched by the iptables rules carrying `comment` (`iptables -L -v -n -x`: the first column of a
 * rule line is its packet count).
 */
export function iptablesPackets(listing: string, comment: string): number {
  let packets = 0;
  for (const line of listing.split('\n')) {
    if (!line.includes(comment)) continue;
    const first = Number(line.trim().split(/\s+/)[0]);
    if (Number.isFinite(first)) packets += first;
  }
  return packets;
}

/** Statistics of one qdisc from `tc -s qdisc show dev <dev>`. */
export interface QdiscStats {
  sentBytes: number;
  sentPackets: number;
  dropped: number;
  /** Packets the qdisc held back because they were over its rate (tbf): the limit biting. */
  overlimits: number;
}

/** The statistics of the qdisc with `handle` (e.g. `4e43:`), or undefined when the listing has none. */
export function qdiscStats(listing: string, handle: string): QdiscStats | undefined {
  const blocks = listing.split(/^(?=qdisc )/m);
  const block = blocks.find((b) => new RegExp(`^qdisc \\w+ ${handle}`).test(b));
  if (!block) return undefined;
  const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(block);
  if (!m) return undefined;
  return { sentBytes: Number(m[1]), sentPackets: Number(m[2]), dropped: Number(m[3]), overlimits: Number(m[4]) };
}
