import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { circuitBreaker, CircuitState, type CircuitBreakerPolicy } from './circuit-breaker.ts';

/**
 * Model-based test of the breaker's state machine: random sequences of failures, successes, probes that
 * hang, callers that abort and clock steps, checked after every step against a reference model: open after
 * a failure, half-open `RESET` ms after opening, N probe places while half-open (a success uses one for good,
 * an aborted caller frees its own, a failure reopens), closed after N successes, and open again when still
 * half-open `CAP` ms after it began. (In the closed state only failures are sent, so opossum's rolling window
 * always holds 100 % failures and one failure opens it.)
 */
const RESET = 100;
const CAP = 1_000;

interface Model {
  probes: number;
  state: CircuitState;
  /** When the current open or half-open period began (fake clock, ms). */
  since: number;
  now: number;
  successes: number;
  /** Callers of probes of the current half-open period that are still waiting. */
  inFlight: AbortController[];
}

interface Real {
  b: CircuitBreakerPolicy;
}

const free = (m: Model): boolean => m.state === CircuitState.HalfOpen && m.inFlight.length + m.successes < m.probes;
const flush = async (): Promise<void> => void (await vi.advanceTimersByTimeAsync(0));

function openAt(m: Model, t: number): void {
  m.state = CircuitState.Open;
  m.since = t;
  m.successes = 0;
  m.inFlight = [];
}

/** Applies the timed transitions due up to `m.now`, in order. */
function settleTime(m: Model): void {
  for (;;) {
    if (m.state === CircuitState.Open && m.now >= m.since + RESET) {
      m.state = CircuitState.HalfOpen;
      m.since += RESET;
      m.successes = 0;
      m.inFlight = [];
    } else if (m.state === CircuitState.HalfOpen && m.now >= m.since + CAP) openAt(m, m.since + CAP);
    else return;
  }
}

async function check(m: Model, r: Real): Promise<void> {
  await flush();
  expect(r.b.state).toBe(m.state);
  expect(r.b.accepting).toBe(m.state === CircuitState.Closed || free(m));
}

/** Sends one call whose function fails (`fail`), succeeds (`ok`), or never settles (`hang`). */
class Call implements fc.AsyncCommand<Model, Real> {
  readonly kind: 'fail' | 'ok' | 'hang';
  constructor(kind: 'fail' | 'ok' | 'hang') {
    this.kind = kind;
  }
  check = (m: Readonly<Model>): boolean => (this.kind === 'fail' ? true : m.state !== CircuitState.Closed);
  async run(m: Model, r: Real): Promise<void> {
    const attempted = m.state === CircuitState.Closed || free(m);
    let called = false;
    const controller = new AbortController();
    const fn = (): Promise<string> => {
      called = true;
      if (this.kind === 'fail') return Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }));
      if (this.kind === 'ok') return Promise.resolve('ok');
      return new Promise<never>(() => {});
    };
    void r.b.execute(fn, { signal: controller.signal }).catch(() => undefined);
    if (attempted) {
      if (this.kind === 'fail') openAt(m, m.now);
      else if (this.kind === 'ok' && ++m.successes >= m.probes && m.state === CircuitState.HalfOpen) {
        m.state = CircuitState.Closed;
        m.inFlight = [];
      } else if (this.kind === 'hang') m.inFlight.push(controller);
    }
    await check(m, r);
    expect(called).toBe(attempted);
  }
  toString = (): string => this.kind;
}

class AbortProbe implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>): boolean => m.inFlight.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const [controller] = m.inFlight.splice(this.pick % m.inFlight.length, 1);
    controller!.abort(new DOMException('caller left', 'AbortError'));
    await check(m, r);
  }
  toString = (): string => `abort(${this.pick})`;
}

class Tick implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await vi.advanceTimersByTimeAsync(this.ms);
    m.now += this.ms;
    settleTime(m);
    await check(m, r);
  }
  toString = (): string => `tick(${this.ms})`;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('circuit breaker against a reference model', () => {
  it('agrees with the model on every random sequence of calls, probes, aborts and clock steps', async () => {
    const commands = [
      fc.constantFrom('fail', 'ok', 'hang').map((k) => new Call(k as 'fail' | 'ok' | 'hang')),
      fc.nat(10).map((i) => new AbortProbe(i)),
      fc.integer({ min: 1, max: 1_200 }).map((ms) => new Tick(ms)),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.commands(commands, { maxCommands: 40 }),
        async (probes, cmds) => {
          const b = circuitBreaker({
            minimumVolume: 1,
            resetTimeoutMs: RESET,
            maxHalfOpenMs: CAP,
            halfOpenProbes: probes,
            windowMs: 600_000,
          });
          try {
            const setup = () => ({
              model: { probes, state: CircuitState.Closed, since: 0, now: 0, successes: 0, inFlight: [] } as Model,
              real: { b },
            });
            await fc.asyncModelRun(setup, cmds);
          } finally {
            b.dispose();
          }
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
