import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bulkhead, type BulkheadPolicy } from './bulkhead.ts';
import { BulkheadRejectedError } from './errors.ts';

/**
 * Model-based test: random sequences of submissions (some abortable), completions and aborts, checked after
 * every step against a reference model of a bulkhead (N running, M queued FIFO, a caller that gives up leaves
 * the queue at once; a running call keeps its slot until its function settles, whatever its caller does).
 */
type Outcome = 'pending' | 'done' | 'rejected-full' | 'aborted';

interface Call {
  /** Where the model says it is. */
  place: 'queued' | 'running' | 'finished' | 'gone';
  /** How the caller was answered (the real one). */
  outcome: Outcome;
  started: boolean;
  open: () => void;
  controller: AbortController | undefined;
}

interface Model {
  maxConcurrent: number;
  maxQueue: number;
  calls: Call[];
}

interface Real {
  b: BulkheadPolicy;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const running = (m: Model): Call[] => m.calls.filter((c) => c.place === 'running');
const queued = (m: Model): Call[] => m.calls.filter((c) => c.place === 'queued');

/** Moves queued calls into free slots, FIFO, as the model says the bulkhead must. */
function promote(m: Model): void {
  while (running(m).length < m.maxConcurrent && queued(m).length > 0) queued(m)[0]!.place = 'running';
}

async function check(m: Model, r: Real): Promise<void> {
  await flush();
  expect(r.b.active).toBe(running(m).length);
  expect(r.b.queued).toBe(queued(m).length);
  for (const c of m.calls) {
    // A call runs its function exactly when the model has it running or finished.
    expect(c.started).toBe(c.place === 'running' || c.place === 'finished');
  }
}

class Submit implements fc.AsyncCommand<Model, Real> {
  readonly abortable: boolean;
  constructor(abortable: boolean) {
    this.abortable = abortable;
  }
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const controller = this.abortable ? new AbortController() : undefined;
    const call: Call = { place: 'queued', outcome: 'pending', started: false, open, controller };
    const full = running(m).length >= m.maxConcurrent && queued(m).length >= m.maxQueue;
    call.place = full ? 'gone' : 'queued';
    m.calls.push(call);
    r.b
      .execute(
        () => {
          call.started = true;
          return gate.then(() => 'ok');
        },
        controller ? { signal: controller.signal } : {},
      )
      .then(
        () => (call.outcome = 'done'),
        (e: unknown) => (call.outcome = e instanceof BulkheadRejectedError ? 'rejected-full' : 'aborted'),
      );
    promote(m);
    await check(m, r);
    if (full) expect(call.outcome).toBe('rejected-full');
  }
  toString = (): string => `submit(${this.abortable ? 'abortable' : 'plain'})`;
}

class Finish implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>): boolean => running(m as Model).length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const list = running(m);
    const call = list[this.pick % list.length]!;
    call.open();
    call.place = 'finished';
    promote(m);
    await check(m, r);
    if (call.outcome !== 'aborted') expect(call.outcome).toBe('done');
  }
  toString = (): string => `finish(${this.pick})`;
}

class Abort implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>): boolean =>
    m.calls.some((c) => c.controller && !c.controller.signal.aborted && c.outcome === 'pending');
  async run(m: Model, r: Real): Promise<void> {
    const list = m.calls.filter((c) => c.controller && !c.controller.signal.aborted && c.outcome === 'pending');
    const call = list[this.pick % list.length]!;
    call.controller!.abort(new DOMException('caller left', 'AbortError'));
    // Queued: it leaves the queue. Running: the caller is answered, the slot is held until the function ends.
    if (call.place === 'queued') call.place = 'gone';
    promote(m);
    await check(m, r);
    expect(call.outcome).toBe('aborted');
  }
  toString = (): string => `abort(${this.pick})`;
}

describe('bulkhead against a reference model', () => {
  it('agrees with the model on every random sequence of submits, completions and aborts', async () => {
    const commands = [
      fc.boolean().map((a) => new Submit(a)),
      fc.nat(20).map((i) => new Finish(i)),
      fc.nat(20).map((i) => new Abort(i)),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.commands(commands, { maxCommands: 40 }),
        async (maxConcurrent, maxQueue, cmds) => {
          const setup = () => ({
            model: { maxConcurrent, maxQueue, calls: [] } as Model,
            real: { b: bulkhead(maxConcurrent, maxQueue) },
          });
          await fc.asyncModelRun(setup, cmds);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
