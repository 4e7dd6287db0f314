import { catalogued, type BandwidthSpec, type FaultEffect, type NetemSpec } from '@nova/faults';
import { containerOf, exec, type ContainerInfo } from './container.ts';
import { qdiscStats } from './kernel-counters.ts';
import { counted, deviceOf, inNetns, QDISC_HANDLE } from './netns.ts';
import type { ProcessDriver, ProcessInjection } from './process.ts';

// Kernel faults made of a root qdisc on the container's interface (tc), tagged with handle QDISC_HANDLE.

/** NetworkChaos bandwidth: a `tbf` root qdisc on the container's interface (egress), as Chaos Mesh does. */
export const kernelBandwidth: ProcessDriver<BandwidthSpec> = {
  ...catalogued('kernel-bandwidth'),
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
export const kernelNetem: ProcessDriver<NetemSpec> = {
  ...catalogued('kernel-netem'),
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
