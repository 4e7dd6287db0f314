import type { Target } from '@nova/proto';
import { UnsupportedLocallyError, ms, parseRate, type Obj, type PlanContext } from './context.ts';

/**
 * NetworkChaos: in the containers environment, rules and qdiscs in the selected containers' network
 * namespaces (the agent's kernel drivers); locally, or where the kernel lacks netem for delay and corrupt,
 * in-process faults on the calls between the services.
 */
export function planNetwork(ctx: PlanContext): void {
  const { spec, layer } = ctx;
  const action = String(spec['action']);
  if (spec['externalTargets'])
    throw new UnsupportedLocallyError('NetworkChaos externalTargets: the local environment has no external hosts');
  const peers = ctx.otherSide();
  // Without netem, delay and corrupt fall back to the in-process layer (calls between the services).
  if (layer?.layer === 'container' && ((action !== 'delay' && action !== 'corrupt') || layer.netem)) {
    planKernel(ctx, action, peers.map(ctx.containerOf));
  } else {
    if (layer?.layer === 'container')
      ctx.note(
        `NetworkChaos ${action}: this kernel has no netem qdisc, so it is injected in-process (inbound/outbound HTTP) instead of on the container interface`,
      );
    planInProcess(ctx, action, peers);
  }
  if (peers.length === 0 && (action === 'partition' || spec['target'] !== undefined)) {
    throw new UnsupportedLocallyError('NetworkChaos target selects no registered service');
  }
}

/** NetworkChaos on the calls between services: inbound HTTP without a target, outbound calls to each peer. */
function planInProcess(ctx: PlanContext, action: string, peers: readonly Target[]): void {
  const { spec, selected, each } = ctx;
  const direction = String(spec['direction'] ?? 'to');
  const appOf = (t: Target): string => t.labels['app'] ?? t.name;
  const peerNames = [...new Set(peers.map(appOf))];
  const outbound = (k: string, s: Obj): void => {
    if (direction === 'to' || direction === 'both') for (const name of peerNames) each(k, { ...s, target: name });
    if (direction === 'from' || direction === 'both') {
      for (const name of new Set(selected.map(appOf))) each(k, { ...s, target: name }, peers);
    }
  };
  if (action === 'delay') {
    const d = spec['delay'] as Obj;
    const s = {
      latencyMs: ms(d['latency']),
      jitterMs: ms(d['jitter'] ?? '0ms'),
      correlation: Number(d['correlation'] ?? 0),
    };
    if (peers.length > 0) outbound('net-delay', s);
    else each('http-delay', s);
  } else if (action === 'loss') {
    const percent = Number((spec['loss'] as Obj)['loss']);
    if (peers.length > 0) outbound('net-reset', { percent });
    else each('http-abort', { percent });
  } else if (action === 'partition') {
    outbound('net-partition', { mode: 'hang' });
  } else if (action === 'bandwidth') {
    if (peers.length === 0)
      throw new UnsupportedLocallyError(
        'NetworkChaos bandwidth without a target: locally, bandwidth is limited on calls to a target service',
      );
    outbound('net-bandwidth', { bytesPerSecond: parseRate(String((spec['bandwidth'] as Obj)['rate'])) });
  } else if (action === 'duplicate' || action === 'corrupt') {
    if (peers.length === 0)
      throw new UnsupportedLocallyError(
        `NetworkChaos ${action} without a target: in-process, it acts on calls to a target service (requests sent twice, response bits flipped); add spec.target`,
      );
    outbound(`net-${action}`, { percent: Number((spec[action] as Obj)[action]) });
    ctx.note(
      action === 'duplicate'
        ? 'NetworkChaos duplicate in-process: whole requests are sent twice (the server sees both), where the kernel copies packets'
        : 'NetworkChaos corrupt in-process: a bit of the response body is flipped, where the kernel corrupts packets (mostly dropped by TCP checksums)',
    );
  } else {
    throw new UnsupportedLocallyError(
      `NetworkChaos ${action}: packet ${action} needs the kernel layer (netem/nftables), available in the containers and k8s environments, not in local`,
    );
  }
}

/** NetworkChaos through the agent's kernel driver, inside the selected containers' network namespaces. */
function planKernel(ctx: PlanContext, action: string, peers: string[]): void {
  const { spec, each, note } = ctx;
  const netem = ctx.layer?.netem === true;
  const net = { direction: String(spec['direction'] ?? 'to'), peers: [...new Set(peers)] };
  const percent = (block: string, field: string): number => Number((spec[block] as Obj)[field]);
  switch (action) {
    case 'partition':
      each('kernel-partition', net);
      return;
    case 'loss':
      if (netem && !peers.length) each('kernel-netem', { lossPercent: percent('loss', 'loss') });
      else each('kernel-loss', { ...net, percent: percent('loss', 'loss') });
      return;
    case 'duplicate':
      if (!peers.length)
        throw new UnsupportedLocallyError(
          "NetworkChaos duplicate without a target: in containers, packets are duplicated (iptables TEE) towards the target's containers; add spec.target",
        );
      each('kernel-duplicate', { ...net, percent: percent('duplicate', 'duplicate') });
      return;
    case 'bandwidth': {
      const b = spec['bandwidth'] as Obj;
      each('kernel-bandwidth', {
        bytesPerSecond: parseRate(String(b['rate'])),
        limitBytes: Number(b['limit']),
        bufferBytes: Number(b['buffer']),
      });
      if (peers.length)
        note(
          'NetworkChaos bandwidth: the limit applies to all egress of the container interface (tbf), not only towards the target',
        );
      return;
    }
    case 'delay': {
      const d = spec['delay'] as Obj;
      each('kernel-netem', {
        delayMs: ms(d['latency']),
        jitterMs: ms(d['jitter'] ?? '0ms'),
        correlation: Number(d['correlation'] ?? 0),
      });
      if (peers.length)
        note('NetworkChaos delay: netem delays all egress of the container interface, not only towards the target');
      return;
    }
    case 'corrupt':
      if (!netem)
        throw new UnsupportedLocallyError(
          'NetworkChaos corrupt needs the netem qdisc, which this kernel lacks (tc: "Specified qdisc kind is unknown")',
        );
      each('kernel-netem', { corruptPercent: percent('corrupt', 'corrupt') });
      return;
    default:
      throw new UnsupportedLocallyError(`NetworkChaos ${action} is not implemented in the containers environment`);
  }
}
