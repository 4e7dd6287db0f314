import {
  parseDuration,
  parseMemorySize,
  parseRate as parseChaosMeshRate,
  selectTargets,
  type ChaosKind,
  type SelectorSpec,
} from '@nova/chaos-spec';
import { UnsupportedFaultError } from '@nova/faults';
import type { Target } from '@nova/proto';

/** One fault to apply through the agent. */
export interface PlannedFault {
  target: Target;
  kind: string;
  spec: Record<string, unknown>;
}

/** What a chaos spec becomes locally: the blast radius and the agent-level faults. */
export interface ChaosPlan {
  kind: ChaosKind;
  /** Every target the selector matches (the blast radius before the mode picks). */
  matching: Target[];
  /** The targets the mode picked. */
  selected: Target[];
  faults: PlannedFault[];
  /** How long the fault lasts, in ms. */
  durationMs: number;
  /** How the environment honours the action where it differs from Chaos Mesh (printed by the runner). */
  notes: string[];
}

/** Where process- and network-level actions go: signals and in-process faults, or Docker and the kernel. */
export interface FaultLayer {
  layer: 'process' | 'container';
  /** The kernel has netem (containers): delay/corrupt go there; else delay is in-process. */
  netem: boolean;
}

/**
 * A valid Chaos Mesh action this environment cannot honour: refused before anything is injected. The fault
 * runtime's {@link UnsupportedFaultError}, so one code (`CHAOS_ERR_UNSUPPORTED`) means one thing everywhere.
 */
export class UnsupportedLocallyError extends UnsupportedFaultError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedLocallyError';
  }
}

type Obj = Record<string, unknown>;

/** A bandwidth rate in bytes per second, by Chaos Mesh's own rule (validated before we get here). */
export function parseRate(rate: string): number {
  const r = parseChaosMeshRate(rate);
  if (!r.ok) throw new UnsupportedLocallyError(`bandwidth.rate ${r.reason}`);
  return r.value;
}

/** Chaos Mesh clock ids and the Node clocks that read them (the time-offset driver's `clocks`). */
const CLOCK_IDS: Record<string, string> = {
  CLOCK_REALTIME: 'realtime',
  CLOCK_REALTIME_COARSE: 'realtime',
  CLOCK_MONOTONIC: 'monotonic',
  CLOCK_MONOTONIC_RAW: 'monotonic',
  CLOCK_MONOTONIC_COARSE: 'monotonic',
  CLOCK_BOOTTIME: 'monotonic',
};

const IO_METHODS: Record<string, string> = {
  read: 'read',
  write: 'write',
  open: 'open',
  create: 'open',
  getattr: 'getattr',
  readdir: 'readdir',
  opendir: 'readdir',
  unlink: 'unlink',
  rmdir: 'unlink',
  mkdir: 'mkdir',
  rename: 'rename',
};

/**
 * Translates a validated chaos spec into faults on concrete targets (the fault-layer table of DESIGN.md).
 * `random` drives the mode's choices, so a seed replays the selection.
 */
export function planChaos(
  kind: ChaosKind,
  spec: Obj & SelectorSpec,
  targets: readonly Target[],
  random: () => number,
  ctx: {
    namespace: string;
    durationMs?: number;
    defaultDurationMs: number;
    dataDirOf: (t: Target) => string | undefined;
    layer?: FaultLayer;
  },
): ChaosPlan {
  const notes: string[] = [];
  const containers = ctx.layer?.layer === 'container';
  const containerOf = (t: Target): string => {
    const c = t.labels['nova.dev/container'];
    if (!c)
      throw new UnsupportedLocallyError(
        `${t.name} registered without a nova.dev/container label: it does not run in this environment's containers`,
      );
    return c;
  };
  const { matching, selected } = selectTargets(spec, targets, random, ctx.namespace);
  const durationMs =
    ctx.durationMs ?? (typeof spec['duration'] === 'string' ? parseDuration(spec['duration'])! : ctx.defaultDurationMs);
  const faults: PlannedFault[] = [];
  const each = (k: string, s: Record<string, unknown>, on: readonly Target[] = selected): void => {
    for (const target of on) faults.push({ target, kind: k, spec: s });
  };
  const otherSide = (): Target[] => {
    const t = spec['target'] as (SelectorSpec & Obj) | undefined;
    return t ? selectTargets(t, targets, random, ctx.namespace).selected : [];
  };
  const ms = (v: unknown): number => parseDuration(String(v)) ?? 0;

  switch (kind) {
    case 'NetworkChaos': {
      const action = String(spec['action']);
      const direction = String(spec['direction'] ?? 'to');
      if (spec['externalTargets'])
        throw new UnsupportedLocallyError('NetworkChaos externalTargets: the local environment has no external hosts');
      const peers = otherSide();
      // Without netem, delay and corrupt fall back to the in-process layer (calls between the services).
      if (containers && ((action !== 'delay' && action !== 'corrupt') || ctx.layer!.netem)) {
        planKernel(action, direction, peers.map(containerOf), spec, each, ctx.layer!, notes);
        if (peers.length === 0 && (action === 'partition' || spec['target'] !== undefined)) {
          throw new UnsupportedLocallyError('NetworkChaos target selects no registered service');
        }
        break;
      }
      if (containers)
        notes.push(
          `NetworkChaos ${action}: this kernel has no netem qdisc, so it is injected in-process (inbound/outbound HTTP) instead of on the container interface`,
        );
      const peerNames = [...new Set(peers.map((p) => p.labels['app'] ?? p.name))];
      const outbound = (k: string, s: Record<string, unknown>): void => {
        if (direction === 'to' || direction === 'both') for (const name of peerNames) each(k, { ...s, target: name });
        if (direction === 'from' || direction === 'both') {
          const sourceNames = [...new Set(selected.map((p) => p.labels['app'] ?? p.name))];
          for (const name of sourceNames) each(k, { ...s, target: name }, peers);
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
        const bytesPerSecond = parseRate(String((spec['bandwidth'] as Obj)['rate']));
        if (peers.length > 0) outbound('net-bandwidth', { bytesPerSecond });
        else
          throw new UnsupportedLocallyError(
            'NetworkChaos bandwidth without a target: locally, bandwidth is limited on calls to a target service',
          );
      } else if (action === 'duplicate' || action === 'corrupt') {
        const percent = Number((spec[action] as Obj)[action]);
        if (peers.length === 0)
          throw new UnsupportedLocallyError(
            `NetworkChaos ${action} without a target: in-process, it acts on calls to a target service (requests sent twice, response bits flipped); add spec.target`,
          );
        outbound(`net-${action}`, { percent });
        notes.push(
          action === 'duplicate'
            ? 'NetworkChaos duplicate in-process: whole requests are sent twice (the server sees both), where the kernel copies packets'
            : 'NetworkChaos corrupt in-process: a bit of the response body is flipped, where the kernel corrupts packets (mostly dropped by TCP checksums)',
        );
      } else {
        throw new UnsupportedLocallyError(
          `NetworkChaos ${action}: packet ${action === 'netem' ? 'netem' : action} needs the kernel layer (netem/nftables), available in the containers and k8s environments, not in local`,
        );
      }
      if (peers.length === 0 && (action === 'partition' || spec['target'] !== undefined)) {
        throw new UnsupportedLocallyError('NetworkChaos target selects no registered service');
      }
      break;
    }
    case 'PodChaos': {
      const action = String(spec['action']);
      const grace = Number(spec['gracePeriod'] ?? 0);
      const k = containers ? 'container-kill' : 'process-kill';
      if (action === 'pod-kill') each(k, { signal: grace === 0 ? 'SIGKILL' : 'SIGTERM', gracePeriodMs: grace * 1000 });
      else if (action === 'container-kill') each(k, { signal: 'SIGKILL', gracePeriodMs: 0 });
      else each(containers ? 'container-pause' : 'process-failure', {});
      break;
    }
    case 'StressChaos': {
      if (spec['stressngStressors'])
        throw new UnsupportedLocallyError(
          'StressChaos stressngStressors: raw stress-ng arguments need stress-ng in the target (containers/k8s); use stressors',
        );
      const stressors = spec['stressors'] as Obj;
      const cpu = stressors['cpu'] as Obj | undefined;
      const mem = stressors['memory'] as Obj | undefined;
      if (cpu && containers) {
        each('container-stress', { workers: Number(cpu['workers'] ?? 1), load: Number(cpu['load'] ?? 100) });
        notes.push(
          'StressChaos cpu: the container CPU limit is lowered by workers × load % (docker update) for the duration',
        );
      } else if (cpu) each('cpu-stress', { workers: Number(cpu['workers'] ?? 1), load: Number(cpu['load'] ?? 100) });
      if (mem) {
        const size = parseMemorySize(String(mem['size'] || '256MB'));
        if (!size.ok) throw new UnsupportedLocallyError(`StressChaos memory size ${size.reason}`);
        if ('percent' in size.value)
          throw new UnsupportedLocallyError(
            'StressChaos memory size as a percentage needs a container memory limit (containers/k8s); give a size such as 256MB',
          );
        // Bytes as Chaos Mesh counts them (decimal units: 256MB = 256 000 000).
        each('memory-stress', { size: size.value.bytes });
      }
      break;
    }
    case 'IOChaos': {
      const action = String(spec['action']);
      if (action !== 'latency' && action !== 'fault')
        throw new UnsupportedLocallyError(`IOChaos ${action}: only latency and fault are implemented in-process`);
      const methods = ((spec['methods'] as string[] | undefined) ?? []).map((m) => {
        const mapped = IO_METHODS[m];
        if (!mapped)
          throw new UnsupportedLocallyError(
            `IOChaos method ${m}: in-process IO faults cover ${Object.keys(IO_METHODS).join(', ')}`,
          );
        return mapped;
      });
      const volume = String(spec['volumePath']).replace(/\/+$/, '');
      const pattern = String(spec['path'] ?? `${volume}/**`);
      for (const target of selected) {
        const dataDir = ctx.dataDirOf(target);
        if (!dataDir)
          throw new UnsupportedLocallyError(`IOChaos: ${target.name} has no data volume in this environment`);
        // volumePath is the service's data volume (/var/lib/nova in k8s); locally it is the replica's DATA_DIR.
        const path = pattern.startsWith(volume) ? dataDir + pattern.slice(volume.length) : pattern;
        const base = {
          path,
          percent: Number(spec['percent'] ?? 100),
          ...(methods.length ? { methods: [...new Set(methods)] } : {}),
        };
        faults.push({
          target,
          kind: action === 'latency' ? 'io-delay' : 'io-fault',
          spec:
            action === 'latency'
              ? { ...base, latencyMs: ms(spec['delay']) }
              : { ...base, errno: Number(spec['errno']) },
        });
      }
      break;
    }
    case 'HTTPChaos': {
      if (spec['code'] !== undefined || spec['response_headers'] !== undefined) {
        throw new UnsupportedLocallyError(
          'HTTPChaos code and response_headers select responses by what the handler answered; in-process, faults select requests (path, method, request_headers)',
        );
      }
      const target = spec['target'] === 'Response' ? 'response' : 'request';
      const match: Record<string, unknown> = {};
      if (spec['path']) match['path'] = spec['path'];
      if (spec['method']) match['method'] = spec['method'];
      if (spec['request_headers']) match['headers'] = spec['request_headers'];
      if (spec['abort'] === true) each('http-abort', match);
      if (spec['delay'] !== undefined) each('http-delay', { ...match, latencyMs: ms(spec['delay']) });
      const { code, ...replace } = (spec['replace'] as Obj | undefined) ?? {};
      // A status "replaced" on a request means answering with it (the handler never runs); on a response,
      // the handler runs and its status is replaced.
      if (code !== undefined && target === 'request') each('http-error', { ...match, status: Number(code) });
      const rewrite: Obj = {};
      if (code !== undefined && target === 'response') replace['code'] = code;
      if (Object.keys(replace).length) rewrite['replace'] = replace;
      if (spec['patch'] !== undefined) rewrite['patch'] = spec['patch'];
      if (Object.keys(rewrite).length) each('http-rewrite', { ...match, target, ...rewrite });
      break;
    }
    case 'TimeChaos': {
      const clocks = new Set<string>();
      for (const id of (spec['clockIds'] as string[] | undefined) ?? ['CLOCK_REALTIME']) {
        const clock = CLOCK_IDS[id];
        if (!clock)
          throw new UnsupportedLocallyError(
            `TimeChaos clockIds ${id}: in-process, the shifted clocks are ${Object.keys(CLOCK_IDS).join(', ')} (what a Node service reads)`,
          );
        clocks.add(clock);
      }
      each('time-offset', { offsetMs: ms(spec['timeOffset']), clocks: [...clocks] });
      break;
    }
    case 'DNSChaos':
      each('dns-fault', {
        action: String(spec['action'] ?? 'error'),
        patterns: (spec['patterns'] as string[] | undefined) ?? [],
      });
      notes.push(
        'DNSChaos: names are failed inside the selected services (dns.lookup, and calls to a named upstream), not by a cluster DNS server',
      );
      break;
  }
  if (selected.length === 0) throw new UnsupportedLocallyError('the selector matches no registered service');
  return { kind, matching, selected, faults, durationMs, notes };
}

/** NetworkChaos through the agent's kernel driver, inside the selected containers' network namespaces. */
function planKernel(
  action: string,
  direction: string,
  peers: string[],
  spec: Obj,
  each: (k: string, s: Record<string, unknown>) => void,
  layer: FaultLayer,
  notes: string[],
): void {
  const net = { direction, peers: [...new Set(peers)] };
  const percent = (block: string, field: string): number => Number((spec[block] as Obj)[field]);
  switch (action) {
    case 'partition':
      each('kernel-partition', net);
      return;
    case 'loss':
      if (layer.netem && !peers.length) each('kernel-netem', { lossPercent: percent('loss', 'loss') });
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
        notes.push(
          'NetworkChaos bandwidth: the limit applies to all egress of the container interface (tbf), not only towards the target',
        );
      return;
    }
    case 'delay': {
      const d = spec['delay'] as Obj;
      const ms = (v: unknown): number => parseDuration(String(v)) ?? 0;
      each('kernel-netem', {
        delayMs: ms(d['latency']),
        jitterMs: ms(d['jitter'] ?? '0ms'),
        correlation: Number(d['correlation'] ?? 0),
      });
      if (peers.length)
        notes.push(
          'NetworkChaos delay: netem delays all egress of the container interface, not only towards the target',
        );
      return;
    }
    case 'corrupt':
      if (!layer.netem)
        throw new UnsupportedLocallyError(
          'NetworkChaos corrupt needs the netem qdisc, which this kernel lacks (tc: "Specified qdisc kind is unknown")',
        );
      each('kernel-netem', { corruptPercent: percent('corrupt', 'corrupt') });
      return;
    default:
      throw new UnsupportedLocallyError(`NetworkChaos ${action} is not implemented in the containers environment`);
  }
}
