import { randomUUID } from 'node:crypto';
import type { Ack, AgentMessage, Hello, Target } from '@nova/proto';

/** A registered service and the way to reach it. */
export interface Registration {
  target: Target;
  /** Where its control stream comes from (`ip:port` as gRPC reports it). */
  peer: string;
  /**
   * The pid the kernel says holds the other end of the control stream (`peer-identity.ts`), when the agent
   * could see it (same network namespace); undefined otherwise. Signals go only to a verified pid.
   */
  verifiedPid: number | undefined;
  send(msg: AgentMessage): void;
  /** Waits for the service's ack of an apply or recover; resolves with it (a recover's carries the effect). */
  awaitAck(faultId: string, action: 'apply' | 'recover', timeoutMs: number): Promise<Ack>;
  /** Called by the stream handler for each ack received. */
  onAck(ack: Ack): void;
  close(): void;
}

/** Services registered with this agent, by target id. */
export class TargetRegistry {
  private readonly byId = new Map<string, Registration>();

  add(
    hello: Hello,
    send: (msg: AgentMessage) => void,
    close: () => void,
    peer = '',
    verifiedPid?: number,
  ): Registration {
    const name = hello.name.replace(/[^a-zA-Z0-9_.-]/g, '-') || 'service';
    const target: Target = {
      id: `${name}-${hello.pid}-${randomUUID().slice(0, 8)}`,
      name: hello.name,
      namespace: hello.namespace || 'default',
      labels: { ...hello.labels },
      pid: hello.pid,
      ports: [...hello.ports],
      registeredAtMs: Date.now(),
    };
    const waiters = new Map<string, { resolve: (ack: Ack) => void; reject: (e: Error) => void }>();
    const registration: Registration = {
      target,
      peer,
      verifiedPid,
      send,
      close,
      awaitAck: (faultId, action, timeoutMs) =>
        new Promise<Ack>((resolve, reject) => {
          const key = `${action}:${faultId}`;
          const timer = setTimeout(() => {
            waiters.delete(key);
            reject(new Error(`${target.name} did not acknowledge ${action} of ${faultId} within ${timeoutMs} ms`));
          }, timeoutMs);
          waiters.set(key, {
            resolve: (ack) => {
              clearTimeout(timer);
              resolve(ack);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          });
        }),
      onAck: (ack) => {
        const key = `${ack.action}:${ack.faultId}`;
        const w = waiters.get(key);
        if (!w) return;
        waiters.delete(key);
        if (ack.ok) w.resolve(ack);
        else
          w.reject(
            Object.assign(new Error(ack.error || `${target.name} refused ${ack.action} of ${ack.faultId}`), { ack }),
          );
      },
    };
    this.byId.set(target.id, registration);
    return registration;
  }

  remove(id: string): Registration | undefined {
    const r = this.byId.get(id);
    this.byId.delete(id);
    return r;
  }

  get(id: string): Registration | undefined {
    return this.byId.get(id);
  }

  list(namespace?: string): Target[] {
    return [...this.byId.values()].map((r) => r.target).filter((t) => !namespace || t.namespace === namespace);
  }

  get size(): number {
    return this.byId.size;
  }
}
