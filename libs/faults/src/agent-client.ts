import { unmeasured } from './effect.ts';
import {
  bearer,
  createAgentClient,
  DEFAULT_HEARTBEAT_GRACE_MS,
  type AgentMessage,
  type ChaosAgentClient,
  type ClientTls,
  type Hello,
  type ServiceMessage,
} from '@nova/proto';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { FaultRuntime } from './runtime.ts';
import { realNow } from './clock.ts';

/** Options of {@link AgentConnection}. */
export interface AgentConnectionOptions {
  /** The node's agent, `host:port`. */
  address: string;
  token: string;
  tls?: ClientTls;
  hello: Hello;
  runtime: FaultRuntime;
  /** Revert every fault when nothing is heard from the agent for this long, in ms. Default 2 000 (or what the agent says). */
  heartbeatGraceMs?: number;
  /** Heartbeat period, in ms. Default 500. */
  heartbeatIntervalMs?: number;
  /** How often the effect of each active fault is reported to the agent, in ms. Default 1 000. */
  effectIntervalMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** Connection state. */
export type AgentConnectionState = 'connecting' | 'connected' | 'stopped';

/**
 * A service's link to its node's agent: registers over the control stream, applies and recovers the faults
 * the agent sends (acknowledging each), and heartbeats. If the stream breaks or goes silent for the grace
 * period, every fault is reverted at once, then it reconnects with backoff. A new agent therefore always
 * meets a clean service.
 */
export class AgentConnection {
  private client: ChaosAgentClient | undefined;
  private call: ClientDuplexStream<ServiceMessage, AgentMessage> | undefined;
  private lastHeard = 0;
  private graceMs: number;
  private backoffMs = 250;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private subscription: { dispose(): void } | undefined;
  state: AgentConnectionState = 'connecting';
  targetId = '';

  constructor(private readonly options: AgentConnectionOptions) {
    this.graceMs = options.heartbeatGraceMs ?? DEFAULT_HEARTBEAT_GRACE_MS;
  }

  start(): void {
    this.client = createAgentClient(this.options.address, this.options.tls);
    const interval = this.options.heartbeatIntervalMs ?? 500;
    let lastTick = realNow();
    const beat = setInterval(() => {
      const now = realNow();
      // If this timer itself ran late, this process was frozen (SIGSTOP, a debugger, a paused container):
      // the silence is ours, not the agent's. Give the agent a fresh grace period to be heard again.
      if (now - lastTick > this.graceMs) this.lastHeard = now;
      lastTick = now;
      if (this.state !== 'connected') return;
      this.call?.write({ heartbeat: { sentAtMs: now } });
      if (now - this.lastHeard > this.graceMs) this.lost('no heartbeat from the agent within the grace period');
    }, interval);
    beat.unref();
    this.timers.push(beat);
    // What each active fault has done so far, every second, so status and the dashboard show it while it holds.
    const report = setInterval(() => {
      if (this.state !== 'connected') return;
      const { runtime } = this.options;
      for (const fault of runtime.list()) {
        const effect = runtime.effect(fault.id);
        if (effect)
          this.call?.write({
            ack: { faultId: fault.id, action: 'effect', ok: true, error: '', effectJson: JSON.stringify(effect) },
          });
      }
    }, this.options.effectIntervalMs ?? 1_000);
    report.unref();
    this.timers.push(report);
    // A fault the service's own lease ended: tell the agent what it did (it may be waiting on its own lease).
    this.subscription = this.options.runtime.onChange((change) => {
      if (change.type !== 'ended' || change.reason !== 'expired' || this.state !== 'connected') return;
      this.call?.write({
        ack: {
          faultId: change.fault.id,
          action: 'expired',
          ok: true,
          error: '',
          effectJson: JSON.stringify(change.effect),
        },
      });
    });
    this.connect();
  }

  /** Closes the stream and reverts every fault. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.subscription?.dispose();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.client?.close();
    await this.options.runtime.recoverAll('shutdown');
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const call = this.client!.register(bearer(this.options.token));
    this.call = call;
    call.on('data', (msg: AgentMessage) => this.onMessage(call, msg));
    call.on('error', (err: Error) => this.options.log?.warn({ err: err.message }, 'chaos agent stream error'));
    // 'status' fires exactly once when the call ends, however it ends (agent gone, refused, cancelled).
    call.on('status', (status: { code: number; details: string }) => {
      if (this.call === call) this.lost(`control stream ended: ${status.details || status.code}`);
    });
    call.write({ hello: this.options.hello });
  }

  private onMessage(call: ClientDuplexStream<ServiceMessage, AgentMessage>, msg: AgentMessage): void {
    this.lastHeard = realNow();
    const { runtime } = this.options;
    if (msg.welcome) {
      this.state = 'connected';
      this.targetId = msg.welcome.targetId;
      if (msg.welcome.heartbeatGraceMs > 0) this.graceMs = msg.welcome.heartbeatGraceMs;
      this.backoffMs = 250;
      this.options.log?.info(
        { targetId: this.targetId, address: this.options.address },
        'registered with the chaos agent',
      );
    } else if (msg.apply) {
      const { faultId, kind, specJson, leaseMs } = msg.apply;
      Promise.resolve()
        .then(() => runtime.apply(faultId, kind, JSON.parse(specJson || '{}'), leaseMs))
        .then(
          () => call.write({ ack: { faultId, action: 'apply', ok: true, error: '' } }),
          (err: Error) => call.write({ ack: { faultId, action: 'apply', ok: false, error: err.message } }),
        );
    } else if (msg.recover) {
      const { faultId } = msg.recover;
      // The ack carries the fault's final effect, measured here; a failed undo is reported as failed.
      const effectJson = (): string => JSON.stringify(runtime.effect(faultId) ?? unmeasured('unknown fault'));
      runtime.recover(faultId).then(
        () => call.write({ ack: { faultId, action: 'recover', ok: true, error: '', effectJson: effectJson() } }),
        (err: Error) =>
          call.write({ ack: { faultId, action: 'recover', ok: false, error: err.message, effectJson: effectJson() } }),
      );
    }
  }

  private lost(reason: string): void {
    if (this.state === 'stopped') return;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    const active = this.options.runtime.size;
    if (active > 0) this.options.log?.warn({ reason, active }, 'lost the chaos agent: reverting every fault');
    void this.options.runtime.recoverAll('agent-lost');
    this.state = 'connecting';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
    this.reconnectTimer.unref();
    this.backoffMs = Math.min(5_000, this.backoffMs * 2);
  }
}
