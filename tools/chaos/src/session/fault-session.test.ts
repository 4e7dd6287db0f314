import type { Fault } from '@nova/proto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChaosPlan } from '../plan/translate.ts';
import { FaultSession, SessionStateError, type FaultPort } from './fault-session.ts';

const plan = {
  kind: 'HTTPChaos',
  matching: [],
  selected: [],
  faults: [],
  durationMs: 10_000,
  notes: [],
} as unknown as ChaosPlan;

/** A port that records what it was asked and answers recoveries with faults in `phase`. */
function recordingPort(phase: Fault['phase'] = 'recovered') {
  const calls: string[] = [];
  let failInject: Error | undefined;
  const port: FaultPort = {
    inject: async (uid, p) => {
      calls.push(`inject ${uid} ${p.durationMs}`);
      if (failInject) throw failInject;
    },
    recover: async (uid) => {
      calls.push(`recover ${uid}`);
      return [
        {
          id: `${uid}/t/http-delay`,
          kind: 'http-delay',
          targetId: 't',
          phase,
          error: phase === 'failed' ? 'undo broke' : '',
        } as Fault,
      ];
    },
  };
  return { port, calls, failNextInject: (e: Error) => (failInject = e) };
}

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

describe('FaultSession', () => {
  it('injects, expires after its duration and recovers once, however often recovery is asked', async () => {
    const { port, calls } = recordingPort();
    const expired = vi.fn();
    const s = new FaultSession('e1', plan, port, { onExpire: expired });
    await s.inject();
    expect(s.phase).toBe('injected');
    vi.advanceTimersByTime(9_999);
    expect(expired).not.toHaveBeenCalled();
    expect(s.remainingMs).toBe(1);
    vi.advanceTimersByTime(1);
    expect(expired).toHaveBeenCalledOnce();
    const [a, b] = await Promise.all([s.recover(), s.recover()]);
    expect(a).toBe(b);
    await s.recover();
    expect(s.phase).toBe('recovered');
    expect(calls).toEqual(['inject e1 10000', 'recover e1']);
  });

  it("pauses with Chaos Mesh's semantics: recovered, the time left kept, injected again for it on resume", async () => {
    const { port, calls } = recordingPort();
    const expired = vi.fn();
    const s = new FaultSession('e2', plan, port, { onExpire: expired });
    await s.inject();
    vi.advanceTimersByTime(4_000);
    await s.pause();
    expect(s.phase).toBe('paused');
    vi.advanceTimersByTime(60_000);
    expect(expired).not.toHaveBeenCalled();
    expect(s.remainingMs).toBe(6_000);
    await s.resume();
    vi.advanceTimersByTime(5_999);
    expect(expired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(expired).toHaveBeenCalledOnce();
    expect(calls).toEqual(['inject e2 10000', 'recover e2', 'inject e2 6000']);
  });

  it('keeps at least 1 s for a resume when paused at the very end', async () => {
    const { port, calls } = recordingPort();
    const s = new FaultSession('e3', plan, port);
    await s.inject();
    vi.advanceTimersByTime(9_900);
    await s.pause();
    await s.resume();
    expect(calls.at(-1)).toBe('inject e3 1000');
  });

  it('refuses what its phase does not allow, with a stable code', async () => {
    const { port } = recordingPort();
    const s = new FaultSession('e4', plan, port);
    await expect(s.pause()).rejects.toThrow(SessionStateError);
    await expect(s.resume()).rejects.toMatchObject({ code: 'CHAOS_ERR_SESSION_STATE', phase: 'pending' });
    await s.inject();
    await expect(s.inject()).rejects.toThrow('cannot inject: the experiment is injected');
    await s.recover();
    await expect(s.resume()).rejects.toThrow('cannot resume: the experiment is recovered');
  });

  it('a failed injection recovers what landed and ends failed', async () => {
    const { port, calls, failNextInject } = recordingPort();
    failNextInject(new Error('agent refused'));
    const s = new FaultSession('e5', plan, port, { onExpire: () => undefined });
    await expect(s.inject()).rejects.toThrow('agent refused');
    expect(s.phase).toBe('failed');
    expect(s.error).toBe('agent refused');
    expect(calls).toEqual(['inject e5 10000', 'recover e5']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a failed undo ends the session failed, naming the fault', async () => {
    const { port } = recordingPort('failed');
    const s = new FaultSession('e6', plan, port);
    await s.inject();
    await s.recover();
    expect(s.phase).toBe('failed');
    expect(s.error).toBe('http-delay on t: undo broke');
  });

  it('a recovery that cannot reach the agent can be tried again', async () => {
    const { port, calls } = recordingPort();
    let down = true;
    const flaky: FaultPort = {
      inject: port.inject,
      recover: async (uid) => {
        if (down) throw new Error('agent unavailable');
        return port.recover(uid);
      },
    };
    const s = new FaultSession('e7', plan, flaky);
    await s.inject();
    await expect(s.recover()).rejects.toThrow('agent unavailable');
    expect(s.phase).toBe('injected');
    down = false;
    await s.recover();
    expect(s.phase).toBe('recovered');
    expect(calls).toEqual(['inject e7 10000', 'recover e7']);
  });

  it('runs a Workflow node: inject, hold for the duration (or until aborted), recover', async () => {
    const { port, calls } = recordingPort();
    const abort = new AbortController();
    const done = new FaultSession('wf-0', plan, port).runFor(abort.signal);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(calls).toEqual(['inject wf-0 10000']);
    abort.abort();
    const faults = await done;
    expect(faults.map((f) => f.phase)).toEqual(['recovered']);
    expect(calls).toEqual(['inject wf-0 10000', 'recover wf-0']);
  });
});
