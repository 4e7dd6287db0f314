import { parseResources, type ScheduleResource, type WorkflowResource } from '@nova/chaos-spec';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Scheduler, type ScheduleEvent } from './scheduler.ts';
import { runWorkflow, unsupportedTemplates, type WorkflowHost } from './workflow.ts';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-11-24T10:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

const sel = '        mode: one\n        selector:\n          labelSelectors:\n            app: auth-service';
function workflow(templates: string, entry = 'root'): WorkflowResource {
  const text = `apiVersion: chaos-mesh.org/v1alpha1\nkind: Workflow\nmetadata:\n  name: wf\nspec:\n  entry: ${entry}\n  templates:\n${templates}`;
  const r = parseResources(text, 'wf.yaml');
  expect(r.issues).toEqual([]);
  return r.resources[0] as WorkflowResource;
}
const chaos = (name: string, deadline: string) =>
  `    - name: ${name}\n      templateType: StressChaos\n      deadline: ${deadline}\n      stressChaos:\n${sel}\n        stressors:\n          cpu:\n            workers: 1\n            load: 10\n`;

/** A host that records when each chaos node ran, on the fake clock. */
function host(): WorkflowHost & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    now: () => Date.now() - new Date('2026-11-24T10:00:00Z').getTime(),
    runChaos: (t, _k, _s, signal) =>
      new Promise<void>((resolve) => {
        const start = Date.now() - new Date('2026-11-24T10:00:00Z').getTime();
        log.push(`${t.name}+${start}`);
        signal.addEventListener('abort', () => {
          log.push(`${t.name}-${Date.now() - new Date('2026-11-24T10:00:00Z').getTime()}`);
          resolve();
        });
      }),
  };
}

describe('workflow engine', () => {
  it('runs Serial children one after another, each until its deadline', async () => {
    const wf = workflow(
      `    - name: root\n      templateType: Serial\n      children: [a, pause, b]\n${chaos('a', '5s')}    - name: pause\n      templateType: Suspend\n      deadline: 2s\n${chaos('b', '3s')}`,
    );
    const h = host();
    const done = runWorkflow(wf.spec, h, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(10_000);
    const result = await done;
    expect(h.log).toEqual(['a+0', 'a-5000', 'b+7000', 'b-10000']);
    expect(result.status).toBe('accomplished');
    expect(result.children.map((c) => [c.name, c.status, c.finishedAt - c.startedAt])).toEqual([
      ['a', 'accomplished', 5000],
      ['pause', 'accomplished', 2000],
      ['b', 'accomplished', 3000],
    ]);
  });

  it('runs Parallel children together', async () => {
    const wf = workflow(
      `    - name: root\n      templateType: Parallel\n      children: [a, b]\n${chaos('a', '4s')}${chaos('b', '2s')}`,
    );
    const h = host();
    const done = runWorkflow(wf.spec, h, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(4000);
    expect((await done).finishedAt).toBe(4000);
    expect(h.log.sort()).toEqual(['a+0', 'a-4000', 'b+0', 'b-2000']);
  });

  it('stops a Serial parent at its own deadline: the running child ends, the rest never start', async () => {
    const wf = workflow(
      `    - name: root\n      templateType: Serial\n      deadline: 6s\n      children: [a, b]\n${chaos('a', '5s')}${chaos('b', '5s')}`,
    );
    const h = host();
    const done = runWorkflow(wf.spec, h, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(10_000);
    const result = await done;
    expect(h.log).toEqual(['a+0', 'a-5000', 'b+5000', 'b-6000']);
    expect(result.status).toBe('deadline-exceeded');
  });

  it('ends every node at once when the run is aborted (Ctrl-C)', async () => {
    const wf = workflow(
      `    - name: root\n      templateType: Serial\n      children: [a, b]\n${chaos('a', '30s')}${chaos('b', '30s')}`,
    );
    const h = host();
    const abort = new AbortController();
    const done = runWorkflow(wf.spec, h, abort.signal);
    await vi.advanceTimersByTimeAsync(1000);
    abort.abort();
    const result = await done;
    expect(h.log).toEqual(['a+0', 'a-1000']);
    expect(result.status).toBe('aborted');
  });

  it('refuses template types the local engine cannot run', () => {
    const wf = workflow(
      `    - name: root\n      templateType: Serial\n      children: [check]\n    - name: check\n      templateType: StatusCheck\n`,
    );
    expect(unsupportedTemplates(wf.spec)).toEqual([
      'template check: StatusCheck templates are not supported by the local workflow engine (Serial, Parallel, Suspend and chaos templates are)',
    ]);
  });

  it('refuses to run a workflow node of a kind Nova Chaos does not model, saying where it can run', () => {
    const spec = {
      entry: 'root',
      templates: [
        { name: 'root', templateType: 'Serial', children: ['jvm'] },
        { name: 'jvm', templateType: 'JVMChaos', deadline: '30s' },
      ],
    };
    expect(unsupportedTemplates(spec)).toEqual([
      'template jvm: JVMChaos is not modelled by Nova Chaos, so this workflow cannot run here: run it on a cluster with Chaos Mesh',
    ]);
  });
});

function schedule(extra: string): ScheduleResource {
  const text = `apiVersion: chaos-mesh.org/v1alpha1\nkind: Schedule\nmetadata:\n  name: nightly\nspec:\n  schedule: "@every 1m"\n  type: PodChaos\n${extra}  podChaos:\n    action: pod-kill\n    mode: one\n    selector:\n      labelSelectors:\n        app: user-service\n`;
  const r = parseResources(text, 's.yaml');
  expect(r.issues).toEqual([]);
  return r.resources[0] as ScheduleResource;
}

describe('scheduler', () => {
  it('spawns a child per tick, and with Forbid skips ticks while one runs', async () => {
    const events: ScheduleEvent[] = [];
    const s = new Scheduler(
      schedule('  concurrencyPolicy: Forbid\n  historyLimit: 5\n'),
      (_n, signal) =>
        new Promise((r) => {
          const t = setTimeout(() => r(true), 90_000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            r(false);
          });
        }),
      (e) => events.push(e),
    );
    s.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events.map((e) => e.type)).toEqual(['spawned']);
    expect(events[0]).toMatchObject({ child: expect.stringMatching(/^nightly-[a-z0-9]{5}$/) });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events.map((e) => e.type)).toEqual(['spawned', 'skipped-forbid']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events.map((e) => e.type)).toEqual(['spawned', 'skipped-forbid', 'finished', 'spawned']);
    s.stop();
    await vi.advanceTimersByTimeAsync(0);
  });

  it('with Allow, runs children concurrently; keeps only historyLimit finished children', async () => {
    const events: ScheduleEvent[] = [];
    const s = new Scheduler(
      schedule('  concurrencyPolicy: Allow\n  historyLimit: 2\n'),
      () => new Promise((r) => setTimeout(() => r(true), 90_000)),
      (e) => events.push(e),
    );
    s.start();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s.active).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(300_000);
    s.stop();
    expect(s.children.filter((c) => c.finishedAt !== undefined).length).toBeLessThanOrEqual(2);
    expect(events.some((e) => e.type === 'gc')).toBe(true);
  });

  it('spawns nothing while suspended, does not catch up the ticks it missed, and spawns again after resume', async () => {
    const events: ScheduleEvent[] = [];
    const s = new Scheduler(
      schedule('  concurrencyPolicy: Allow\n  historyLimit: 10\n'),
      async () => true,
      (e) => events.push(e),
    );
    s.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events.filter((e) => e.type === 'spawned')).toHaveLength(1);
    s.suspend();
    expect(s.isSuspended).toBe(true);
    await vi.advanceTimersByTimeAsync(300_000);
    expect(events.filter((e) => e.type === 'spawned')).toHaveLength(1);
    s.resume();
    expect(s.isSuspended).toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.filter((e) => e.type === 'spawned')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events.filter((e) => e.type === 'spawned')).toHaveLength(2);
    s.stop();
  });

  it('skips a tick that fires later than startingDeadlineSeconds', async () => {
    const events: ScheduleEvent[] = [];
    const s = new Scheduler(
      schedule('  startingDeadlineSeconds: 5\n'),
      async () => true,
      (e) => events.push(e),
    );
    s.start();
    // The process was frozen past the tick: the timer fires 30 s late.
    vi.setSystemTime(new Date('2026-11-24T10:01:30Z'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events[0]).toMatchObject({ type: 'missed' });
    s.stop();
  });
});
