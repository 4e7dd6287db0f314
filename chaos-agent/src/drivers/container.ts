import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  catalogued,
  FaultSpecError,
  type ContainerStressSpec,
  type EmptySpec,
  type FaultEffect,
  type KillSpec,
} from '@nova/faults';
import { DOCKER_LABELS, TARGET_LABELS, type Target } from '@nova/proto';
import { killEffect, lastingInjection, type ProcessDriver } from './process.ts';

/** The Docker label an environment puts on every container the agent may fault (nothing else is touched). */
export const TARGET_LABEL = DOCKER_LABELS.target;
/** The target label (from the service's `CHAOS_LABELS`) naming its container. */
export const CONTAINER_LABEL = TARGET_LABELS.container;

/** Runs a command without a shell; resolves stdout, rejects with its stderr. */
export function exec(cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(`${cmd} ${args.join(' ')}: ${(stderr || error.message).trim().split('\n').slice(-3).join(' ')}`),
        );
      else resolve(stdout);
    });
  });
}

/** What the agent needs to know of a container. */
export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  paused: boolean;
  /** Its init process in the host's PID namespace (the handle on its network namespace). */
  pid: number;
  ips: string[];
  labels: Record<string, string>;
  /** CPU limit as `--cpus` (NanoCpus) or as a CFS quota/period; 0 / -1 = none. */
  nanoCpus: number;
  cpuQuota: number;
  cpuPeriod: number;
  memory: number;
  memorySwap: number;
}

/** The part of `docker container inspect` the agent reads. */
interface InspectJson {
  Id: string;
  Name: string;
  State: { Running: boolean; Paused: boolean; Pid: number };
  NetworkSettings: { Networks?: Record<string, { IPAddress?: string }> };
  Config: { Labels?: Record<string, string> | null };
  HostConfig: { NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number; Memory?: number; MemorySwap?: number };
}

/** `docker inspect` of one container, reduced to {@link ContainerInfo}. */
export async function inspectContainer(ref: string): Promise<ContainerInfo> {
  const [raw] = JSON.parse(await exec('docker', ['container', 'inspect', ref])) as InspectJson[];
  if (!raw) throw new Error(`no container ${ref}`);
  return {
    id: raw.Id,
    name: raw.Name.replace(/^\//, ''),
    running: raw.State.Running,
    paused: raw.State.Paused,
    pid: raw.State.Pid,
    ips: Object.values(raw.NetworkSettings.Networks ?? {})
      .map((n) => n.IPAddress ?? '')
      .filter(Boolean),
    labels: raw.Config.Labels ?? {},
    nanoCpus: raw.HostConfig.NanoCpus ?? 0,
    cpuQuota: raw.HostConfig.CpuQuota ?? 0,
    cpuPeriod: raw.HostConfig.CpuPeriod ?? 0,
    memory: raw.HostConfig.Memory ?? 0,
    memorySwap: raw.HostConfig.MemorySwap ?? 0,
  };
}

/**
 * The container a target runs in; refuses targets without one, containers the environment did not mark,
 * and a target whose control stream does not come from that container's address (a service cannot point
 * the agent at another container by claiming its name).
 */
export async function containerOf(kind: string, target: Target, peer = ''): Promise<ContainerInfo> {
  const ref = target.labels[CONTAINER_LABEL];
  if (!ref)
    throw new FaultSpecError(
      kind,
      '(target)',
      `${target.name} does not run in a container (no ${CONTAINER_LABEL} label); ${kind} needs the containers environment`,
    );
  const info = await inspectContainer(ref).catch((e: Error) => {
    throw new FaultSpecError(kind, '(target)', `container ${ref} of ${target.name}: ${e.message}`);
  });
  if (info.labels[TARGET_LABEL] !== 'true') {
    throw new FaultSpecError(
      kind,
      '(target)',
      `container ${ref} lacks the Docker label ${TARGET_LABEL}=true: the agent only faults containers an environment marked as targets`,
    );
  }
  const from = /(\d+\.\d+\.\d+\.\d+):\d+$/.exec(peer)?.[1];
  if (from && info.running && !info.ips.includes(from)) {
    throw new FaultSpecError(
      kind,
      '(target)',
      `${target.name} registered from ${from}, which is not an address of container ${ref} (${info.ips.join(', ') || 'none'})`,
    );
  }
  return info;
}

/** Containers marked as chaos targets (running or not). */
export async function markedContainers(): Promise<string[]> {
  const out = await exec('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${TARGET_LABEL}=true`]);
  return out.split('\n').filter(Boolean);
}

/**
 * What the Docker-level faults changed, per container, so that an agent restarted after a crash restores it
 * (pause → unpause, cpu/memory → the recorded originals) before anything else.
 */
export class ContainerJournal {
  constructor(private readonly dir: string | undefined) {}
  private get file(): string | undefined {
    return this.dir ? join(this.dir, 'container-faults.json') : undefined;
  }
  private async read(): Promise<Record<string, JournalEntry>> {
    if (!this.file) return {};
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Record<string, JournalEntry>;
    } catch {
      return {};
    }
  }
  async add(faultId: string, entry: JournalEntry): Promise<void> {
    if (!this.file) return;
    await writeFile(this.file, JSON.stringify({ ...(await this.read()), [faultId]: entry }));
  }
  async remove(faultId: string): Promise<void> {
    if (!this.file) return;
    const all = await this.read();
    delete all[faultId];
    await writeFile(this.file, JSON.stringify(all));
  }
  /** Reverts every change a previous run left; returns what it reverted. */
  async revertLeftovers(): Promise<JournalEntry[]> {
    const entries = Object.values(await this.read());
    for (const e of entries) await revert(e).catch(() => undefined);
    if (this.file) await writeFile(this.file, '{}');
    return entries;
  }
}

/** The limits `container-stress` changes, as Docker reports them. */
type Limits = Pick<ContainerInfo, 'nanoCpus' | 'cpuQuota' | 'cpuPeriod' | 'memory' | 'memorySwap'>;

type JournalEntry =
  { container: string; action: 'unpause' } | ({ container: string; action: 'restore-limits' } & Limits);

async function revert(e: JournalEntry): Promise<void> {
  if (e.action === 'unpause') {
    const info = await inspectContainer(e.container);
    if (info.paused) await exec('docker', ['unpause', e.container]);
  } else {
    await exec('docker', ['update', ...restoreArgs(e), e.container]);
  }
}

/**
 * `docker update` arguments lowering the CPU limit to `cpus` (and memory to `memory`). A container started
 * with `--cpus` keeps that form (Docker refuses to mix it with a quota); otherwise a CFS quota is set, because
 * `--cpus 0` does not remove a limit while `--cpu-quota -1` does.
 */
function squeezeArgs(original: Limits, cpus: number, memory: number | undefined): string[] {
  const args =
    original.nanoCpus > 0
      ? ['--cpus', cpus.toFixed(3)]
      : ['--cpu-period', '100000', '--cpu-quota', String(Math.max(1_000, Math.round(cpus * 100_000)))];
  if (memory !== undefined) args.push('--memory', String(memory), '--memory-swap', String(memory));
  return args;
}

/** `docker update` arguments putting back the recorded limits. */
function restoreArgs(original: Limits): string[] {
  const args =
    original.nanoCpus > 0
      ? ['--cpus', String(original.nanoCpus / 1e9)]
      : [
          '--cpu-quota',
          String(original.cpuQuota > 0 ? original.cpuQuota : -1),
          ...(original.cpuPeriod > 0 ? ['--cpu-period', String(original.cpuPeriod)] : []),
        ];
  // Memory is only ever lowered from a set limit, so the original is a real value (swap -1 = unlimited).
  if (original.memory > 0)
    args.push('--memory-swap', String(original.memorySwap || -1), '--memory', String(original.memory));
  return args;
}

/**
 * PodChaos pod-kill / container-kill in Docker: `docker kill -s <signal>`, then SIGKILL once `gracePeriodMs`
 * has passed if the container still runs. The environment restarts it, as a kubelet would.
 */
export const containerKill: ProcessDriver<KillSpec> = {
  ...catalogued('container-kill'),
  async apply(target, spec, _leaseMs, _faultId, ctx) {
    const c = await containerOf('container-kill', target, ctx?.peer);
    if (!c.running) throw new FaultSpecError('container-kill', '(target)', `container ${c.name} is not running`);
    const signalledAt = performance.now();
    await exec('docker', ['kill', '-s', spec.signal, c.id]);
    let cancelled = false;
    let goneAfterMs: number | undefined;
    let escalated = false;
    const settled = (async () => {
      const deadline = Date.now() + spec.gracePeriodMs;
      let killed = spec.signal === 'SIGKILL';
      for (;;) {
        const info = await inspectContainer(c.id).catch(() => undefined);
        // Gone, or restarted already (a new init PID): the kill is complete.
        if (!info || !info.running || info.pid !== c.pid) {
          goneAfterMs = performance.now() - signalledAt;
          return;
        }
        if (!killed && Date.now() >= deadline && !cancelled) {
          killed = escalated = true;
          await exec('docker', ['kill', '-s', 'SIGKILL', c.id]).catch(() => undefined);
        }
        if (cancelled && !killed) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return {
      settled,
      // A kill cannot be undone; stopping the grace escalation is all there is. The service's control stream
      // ends (and the agent recovers) before Docker reports the container stopped: watch up to 3 s for it.
      undo: async () => {
        await Promise.race([settled, new Promise((r) => setTimeout(r, 3_000))]);
        cancelled = true;
      },
      effect: () => killEffect(`container ${c.name} (init pid ${c.pid})`, spec.signal, true, goneAfterMs, escalated),
    };
  },
};

/**
 * PodChaos pod-failure in Docker: `docker pause` (the cgroup freezer) for the duration, then `docker
 * unpause`. A detached watchdog unpauses at lease expiry even if the agent is SIGKILLed; a restarted agent
 * unpauses from its journal first thing.
 */
export function containerPause(journal: ContainerJournal): ProcessDriver<EmptySpec> {
  return {
    ...catalogued('container-pause'),
    holdsTarget: true,
    async apply(target, _spec, leaseMs, faultId, ctx) {
      const c = await containerOf('container-pause', target, ctx?.peer);
      if (!c.running || c.paused)
        throw new FaultSpecError(
          'container-pause',
          '(target)',
          `container ${c.name} is ${c.paused ? 'already paused' : 'not running'}`,
        );
      await journal.add(faultId, { container: c.id, action: 'unpause' });
      const watchdog = spawn(
        process.execPath,
        [
          '-e',
          `setTimeout(() => require('node:child_process').execFile('docker', ['unpause', ${JSON.stringify(c.id)}], () => {}), ${Math.ceil(leaseMs)})`,
        ],
        { detached: true, stdio: 'ignore' },
      );
      watchdog.unref();
      try {
        await exec('docker', ['pause', c.id]);
      } catch (error) {
        watchdog.kill('SIGKILL');
        await journal.remove(faultId);
        throw error;
      }
      const pausedAt = performance.now();
      // Evidence: Docker reports the container paused (its cgroup frozen) after the call, and at recovery.
      const seenPaused = (await inspectContainer(c.id).catch(() => undefined))?.paused === true;
      let pausedMs: number | undefined;
      return lastingInjection(
        async () => {
          if (watchdog.exitCode === null) watchdog.kill('SIGKILL');
          const info = await inspectContainer(c.id).catch(() => undefined);
          pausedMs = performance.now() - pausedAt;
          // At the lease, the watchdog may unpause it between our inspect and our unpause (the conformance
          // lease case caught that race): only a container still paused afterwards is a failed undo.
          if (info?.paused)
            await exec('docker', ['unpause', c.id]).catch(async (error: unknown) => {
              if ((await inspectContainer(c.id).catch(() => undefined))?.paused) throw error;
            });
          await journal.remove(faultId);
        },
        () => ({
          took: seenPaused,
          summary: seenPaused
            ? `container ${c.name} paused for ${((pausedMs ?? performance.now() - pausedAt) / 1000).toFixed(1)} s`
            : `container ${c.name} was not seen paused`,
          figures: { pausedMs: Math.round(pausedMs ?? performance.now() - pausedAt), seenPaused: Number(seenPaused) },
        }),
      );
    },
  };
}

/**
 * StressChaos at the Docker level: the container's CPU (and memory) limits are lowered with `docker update`
 * to what the stressors would leave the service — `cpus` minus `workers × load %` of a CPU — and restored
 * (from the recorded originals) on recovery.
 */
export function containerStress(journal: ContainerJournal, hostCpus: number): ProcessDriver<ContainerStressSpec> {
  return {
    ...catalogued('container-stress'),
    async apply(target, spec, _leaseMs, faultId, ctx) {
      const c = await containerOf('container-stress', target, ctx?.peer);
      const cpus =
        c.nanoCpus > 0 ? c.nanoCpus / 1e9 : c.cpuQuota > 0 && c.cpuPeriod > 0 ? c.cpuQuota / c.cpuPeriod : hostCpus;
      const left = Math.max(0.05, cpus - (spec.workers * spec.load) / 100);
      let memory: number | undefined;
      if (spec.memoryBytes) {
        if (c.memory === 0)
          throw new FaultSpecError(
            'container-stress',
            'memoryBytes',
            `container ${c.name} has no memory limit to lower; give it one (--memory) or stress memory in-process`,
          );
        memory = Math.max(8 << 20, c.memory - spec.memoryBytes);
      }
      const original: Limits = {
        nanoCpus: c.nanoCpus,
        cpuQuota: c.cpuQuota,
        cpuPeriod: c.cpuPeriod,
        memory: c.memory,
        memorySwap: c.memorySwap,
      };
      await journal.add(faultId, { container: c.id, action: 'restore-limits', ...original });
      try {
        await exec('docker', ['update', ...squeezeArgs(original, left, memory), c.id]);
      } catch (error) {
        await journal.remove(faultId);
        throw error;
      }
      // Evidence: the limit Docker now reports for the container (what the cgroup enforces).
      const now = await inspectContainer(c.id).catch(() => undefined);
      const limitCpus = now
        ? now.nanoCpus > 0
          ? now.nanoCpus / 1e9
          : now.cpuQuota > 0 && now.cpuPeriod > 0
            ? now.cpuQuota / now.cpuPeriod
            : 0
        : 0;
      const took =
        limitCpus > 0 && Math.abs(limitCpus - left) < 0.01 && (memory === undefined || now?.memory === memory);
      const effect = (): FaultEffect => ({
        took,
        summary: took
          ? `container ${c.name} limited to ${limitCpus.toFixed(2)} CPUs (from ${cpus.toFixed(2)})${memory !== undefined ? ` and ${memory} bytes of memory` : ''}`
          : `container ${c.name}: Docker does not report the lowered limit (${limitCpus.toFixed(2)} CPUs, asked ${left.toFixed(2)})`,
        figures: { limitCpus, fromCpus: cpus, ...(memory !== undefined ? { memoryBytes: memory } : {}) },
      });
      return lastingInjection(async () => {
        // A container gone meanwhile has nothing to restore; any other failure keeps the journal entry, so
        // the next agent start restores it, and is reported.
        const info = await inspectContainer(c.id).catch(() => undefined);
        if (info) await exec('docker', ['update', ...restoreArgs(original), c.id]);
        await journal.remove(faultId);
      }, effect);
    },
  };
}
