import { defaultRegistry, type DriverRegistry, type Injection } from './drivers/index.ts';
import { unmeasured, type FaultEffect } from './effect.ts';
import { RuleList, type InboundRule, type OutboundRule } from './rules.ts';
import { realNow } from './clock.ts';

/** How many ended faults keep their final effect for a late reader. */
const KEPT_ENDED = 256;

/** A fault active in this process. */
export interface ActiveFault {
  id: string;
  kind: string;
  spec: unknown;
  appliedAt: number;
  expiresAt: number;
}

/** Why a fault ended. */
export type EndReason = 'recovered' | 'expired' | 'agent-lost' | 'shutdown';

/** Emitted when a fault starts or ends. */
export type FaultChange =
  | { type: 'applied'; fault: ActiveFault }
  | { type: 'ended'; fault: ActiveFault; reason: EndReason; effect: FaultEffect };

/**
 * The faults active in one process, each with a lease: it reverts by itself at `expiresAt` whatever else
 * happens. Apply and recover are idempotent by fault id.
 */
export class FaultRuntime {
  readonly inbound = new RuleList<InboundRule>();
  readonly outbound = new RuleList<OutboundRule>();
  private readonly active = new Map<string, { fault: ActiveFault; injection: Injection; timer: NodeJS.Timeout }>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(change: FaultChange) => void>();
  private readonly ended = new Map<string, FaultEffect>();

  constructor(readonly registry: DriverRegistry = defaultRegistry) {}

  /** Validates and applies a fault for `leaseMs`. Throws (applying nothing) on an unknown kind or a bad spec. */
  apply(id: string, kind: string, spec: unknown, leaseMs: number): Promise<void> {
    if (this.active.has(id)) return Promise.resolve();
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const work = this.doApply(id, kind, spec, leaseMs).finally(() => this.pending.delete(id));
    this.pending.set(id, work);
    return work;
  }

  private async doApply(id: string, kind: string, spec: unknown, leaseMs: number): Promise<void> {
    if (!(leaseMs > 0)) throw new RangeError(`fault ${id}: leaseMs must be > 0, got ${leaseMs}`);
    const driver = this.registry.get(kind);
    const parsed = driver.parse(spec);
    const injection = await driver.apply(parsed, this, id);
    const now = realNow();
    const fault: ActiveFault = { id, kind, spec, appliedAt: now, expiresAt: now + leaseMs };
    const timer = setTimeout(() => void this.end(id, 'expired'), leaseMs);
    // The lease must fire even if nothing else keeps the process busy, but must not keep it alive.
    timer.unref();
    this.active.set(id, { fault, injection, timer });
    this.emit({ type: 'applied', fault });
  }

  /** Reverts a fault; false when it was not active (already recovered, expired, or never applied). */
  async recover(id: string): Promise<boolean> {
    await this.pending.get(id)?.catch(() => undefined);
    return this.end(id, 'recovered');
  }

  /** Reverts every active fault. */
  async recoverAll(reason: EndReason = 'recovered'): Promise<void> {
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.active.keys()].map((id) => this.end(id, reason)));
  }

  /**
   * What a fault has done, measured by its driver: live while it is active, final once it ended (kept for
   * the last 256 ended faults). Undefined for a fault this runtime never applied.
   */
  effect(id: string): FaultEffect | undefined {
    const entry = this.active.get(id);
    if (entry) return effectOf(entry.fault, entry.injection);
    return this.ended.get(id);
  }

  list(): ActiveFault[] {
    return [...this.active.values()].map((a) => a.fault);
  }

  get size(): number {
    return this.active.size;
  }

  /** Subscribes to applied/ended changes. */
  onChange(listener: (change: FaultChange) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  private async end(id: string, reason: EndReason): Promise<boolean> {
    const entry = this.active.get(id);
    if (!entry) return false;
    this.active.delete(id);
    clearTimeout(entry.timer);
    try {
      await entry.injection.recover();
    } finally {
      // Read after the undo: a delay released by it has been counted.
      const effect = effectOf(entry.fault, entry.injection);
      this.ended.set(id, effect);
      if (this.ended.size > KEPT_ENDED) this.ended.delete(this.ended.keys().next().value!);
      this.emit({ type: 'ended', fault: entry.fault, reason, effect });
    }
    return true;
  }

  private emit(change: FaultChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // observers must not break fault bookkeeping
      }
    }
  }
}

/** A driver's effect, or "no effect measured" when it has no meter or its meter throws. */
function effectOf(fault: ActiveFault, injection: Injection): FaultEffect {
  try {
    return injection.effect?.() ?? unmeasured(fault.kind);
  } catch (error) {
    return {
      ...unmeasured(fault.kind),
      summary: `${fault.kind}: measuring its effect failed: ${(error as Error).message}`,
    };
  }
}
