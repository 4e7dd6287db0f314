import { request } from 'undici';

/**
 * How a supervised process is probed, as a kubelet's `livenessProbe` (httpGet): every `periodMs` its URL must
 * answer 200 within `timeoutMs`; after `failureThreshold` failures in a row it is declared unresponsive.
 */
export interface LivenessOptions {
  /** Time between probes, in ms. Default 3 000. */
  periodMs?: number;
  /**
   * A probe not answered within this many ms fails. Default 3 000: above the largest delay the default suite
   * injects (1.5 s), so a fault that slows a service does not get it killed.
   */
  timeoutMs?: number;
  /** Failed probes in a row before the process is declared unresponsive. Default 4 (~12 s hung). */
  failureThreshold?: number;
}

/** The defaults of {@link LivenessOptions}. */
export const LIVENESS_DEFAULTS: Required<LivenessOptions> = { periodMs: 3_000, timeoutMs: 3_000, failureThreshold: 4 };

/** Time a process declared unresponsive has to exit after SIGTERM before it is SIGKILLed, in ms. */
export const UNRESPONSIVE_KILL_GRACE_MS = 2_000;

/** The reason an `unresponsive` lifecycle event gives: which probes failed, how often, the last error, the action. */
export function unresponsiveReason(probes: string, failures: number, lastError: string, action: string): string {
  return `${failures} liveness probes ${probes} failed in a row (last: ${lastError}); ${action}`;
}

/**
 * Ends a process declared unresponsive: SIGTERM, then SIGKILL after {@link UNRESPONSIVE_KILL_GRACE_MS} (a
 * stopped or blocked process never acts on SIGTERM). `signal` must reach that process only, and do nothing once
 * it is gone or replaced.
 */
export function terminateUnresponsive(signal: (s: NodeJS.Signals) => void): void {
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), UNRESPONSIVE_KILL_GRACE_MS).unref();
}

/** What a {@link LivenessProbe} watches: an HTTP `url`, or a `check` of its own. */
export interface LivenessTarget {
  /** The URL that must answer 200, e.g. `http://127.0.0.1:4000/healthz`. */
  readonly url?: string;
  /** A probe of its own (a gRPC call): resolves when alive; a rejection, or no answer within `timeoutMs`, fails. */
  check?(timeoutMs: number): Promise<unknown>;
  /**
   * Which process runs now (its PID locally, a restart count for a container); undefined while none does
   * (nothing is probed then). A change while a probe is out means the answer is about a process now gone.
   */
  incarnation(): number | undefined;
  /**
   * True while the process is held stopped on purpose (a process-failure fault, a paused container): its
   * failed probes are forgotten, as Chaos Mesh's pod-failure keeps a pod down for the fault's duration. Asked
   * only after a probe failed, so it may be costly (a `docker inspect`).
   */
  held?(incarnation: number): boolean | Promise<boolean>;
  /** Called once when `failureThreshold` probes in a row failed; probing then stops until started again. */
  onUnresponsive(failures: number, lastError: string): void;
}

/**
 * Probes one process for liveness. The supervisor starts it once the process is healthy (and again after each
 * restart) and ends it (or kills the process) when {@link LivenessTarget.onUnresponsive} is called: a process
 * that hangs (a blocked event loop, SIGSTOP) keeps its sockets and never exits, so restarting on exit alone
 * would leave it hung for the rest of the run.
 */
export class LivenessProbe {
  private readonly options: Required<LivenessOptions>;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private inFlight = false;

  constructor(
    private readonly target: LivenessTarget,
    options: LivenessOptions = {},
  ) {
    this.options = { ...LIVENESS_DEFAULTS, ...options };
    if ((target.url === undefined) === (target.check === undefined))
      throw new TypeError('a liveness target needs either a url or a check, not both');
    for (const [field, value] of Object.entries(this.options))
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`liveness.${field} must be > 0, got ${value}`);
  }

  /** Failed probes in a row so far. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** True while probing. */
  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Starts probing every `periodMs` (again, with failures forgotten, if it was already). */
  start(): void {
    this.stop();
    this.failures = 0;
    this.timer = setInterval(() => void this.probe(), this.options.periodMs);
    // Probing must not keep a controller alive that has nothing else to do.
    this.timer.unref();
  }

  /** Stops probing. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<void> {
    // A probe still out (its timeout is longer than the period) is not doubled.
    if (this.inFlight) return;
    const incarnation = this.target.incarnation();
    if (incarnation === undefined) return;
    this.inFlight = true;
    let error: string | undefined;
    let held = false;
    try {
      error = await this.ask();
      if (error !== undefined) held = (await this.target.held?.(incarnation)) === true;
    } catch (e) {
      // The held check itself failed: count the probe's failure as it is.
      error ??= (e as Error).message;
    } finally {
      this.inFlight = false;
    }
    // Stopped, or the process replaced, while the probe was out: its answer is about something gone.
    if (!this.active || this.target.incarnation() !== incarnation) return;
    if (error === undefined || held) {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures < this.options.failureThreshold) return;
    this.stop();
    this.target.onUnresponsive(this.failures, error);
  }

  /** One probe: undefined when answered (200) in time, else what went wrong. */
  private async ask(): Promise<string | undefined> {
    const { timeoutMs } = this.options;
    const { url, check } = this.target;
    try {
      if (check) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          await Promise.race([check(timeoutMs), late]);
        } finally {
          clearTimeout(timer);
        }
        return undefined;
      }
      const res = await request(url!, {
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return res.statusCode === 200 ? undefined : `answered ${res.statusCode}`;
    } catch (e) {
      return (e as Error).message || String(e);
    }
  }
}
