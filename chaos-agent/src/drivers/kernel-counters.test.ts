import { describe, expect, it } from 'vitest';
import { iptablesPackets, nftPackets, qdiscStats } from './kernel-counters.ts';

// Listings in the shape nft 1.0.6, iptables 1.8.9 (nf_tables) and iproute2 6.1 print them on Debian 12; the
// containers environment's tests read the live ones.
const NFT = `table inet nova_chaos_0a1b2c3d4e5f {
\tchain out {
\t\ttype filter hook output priority filter; policy accept;
\t\tip daddr 172.18.0.1 accept
\t\tip daddr { 172.18.0.3, 172.18.0.4 } counter packets 12 bytes 720 drop
\t}
\tchain in {
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr { 172.18.0.3, 172.18.0.4 } counter packets 3 bytes 180 drop
\t}
}
`;

const IPTABLES = `Chain INPUT (policy ACCEPT 52 packets, 3120 bytes)
    pkts      bytes target     prot opt in     out     source               destination

Chain OUTPUT (policy ACCEPT 40 packets, 2400 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       7      420 DROP       all  --  *      *       0.0.0.0/0            172.18.0.3           statistic mode random probability 0.30000000000 /* nova-chaos:0a1b2c3d4e5f */
      99     5940 DROP       all  --  *      *       0.0.0.0/0            172.18.0.9           statistic mode random probability 0.10000000000 /* nova-chaos:ffffffffffff */
       2      120 DROP       all  --  *      *       0.0.0.0/0            172.18.0.4           statistic mode random probability 0.30000000000 /* nova-chaos:0a1b2c3d4e5f */
`;

const TC = `qdisc tbf 4e43: root refcnt 2 rate 80Kbit burst 10000b lat 2.4s
 Sent 123456 bytes 321 pkt (dropped 2, overlimits 45 requeues 0)
 backlog 0b 0p requeues 0
qdisc noqueue 0: dev lo root refcnt 2
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0)
 backlog 0b 0p requeues 0
`;

describe('kernel rule counters', () => {
  it('sums the packets of every counter in an nft table', () => {
    expect(nftPackets(NFT)).toBe(15);
    expect(nftPackets('table inet nova_chaos_x {\n}\n')).toBe(0);
  });

  it("sums the packets of the rules tagged with this fault's comment only", () => {
    expect(iptablesPackets(IPTABLES, 'nova-chaos:0a1b2c3d4e5f')).toBe(9);
    expect(iptablesPackets(IPTABLES, 'nova-chaos:ffffffffffff')).toBe(99);
    expect(iptablesPackets(IPTABLES, 'nova-chaos:000000000000')).toBe(0);
  });

  it('reads the statistics of the tagged qdisc, and none when it is gone', () => {
    expect(qdiscStats(TC, '4e43:')).toEqual({ sentBytes: 123456, sentPackets: 321, dropped: 2, overlimits: 45 });
    expect(qdiscStats(TC.split('qdisc noqueue')[1]!, '4e43:')).toBeUndefined();
  });
});
