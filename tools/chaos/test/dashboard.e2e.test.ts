import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

let up: ChildProcess;
let exited: Promise<void>;
let state: { api: string; apiToken: string };
let stateDir: string;
let browser: Browser;

beforeAll(async () => {
  if (spawnSync(CHROMIUM, ['--version']).status !== 0) {
    throw new Error(
      `Chromium is required for the dashboard tests: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'nova-dashboard-'));
  stateDir = dir;
  writeFileSync(join(dir, 'htpasswd'), `admin:${bcrypt.hashSync('s3cret-pass', 10)}\n`);
  // Two recorded runs for the history's trend (report.json as `chaos run` writes it, only the fields read).
  const reports = join(dir, 'reports');
  for (const [i, p99] of [
    [1, 120],
    [2, 180],
  ] as const) {
    mkdirSync(join(reports, `2026120${i}-100000`), { recursive: true });
    const fault = { count: 300, errorRate: 0, p50: 20, p99 };
    const result = {
      name: 'network-delay-auth',
      kind: 'NetworkChaos',
      verdict: 'pass',
      checks: [],
      figures: { fault },
    };
    writeFileSync(
      join(reports, `2026120${i}-100000`, 'report.json'),
      JSON.stringify({
        runId: `2026120${i}-100000`,
        startedAt: `2026-12-0${i}T10:00:00.000Z`,
        environment: 'local',
        results: [result],
      }),
    );
  }
  const args = ['up', '--live-load', '10', '--reports', reports];
  up = spawn(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', CLI, ...args], {
    env: {
      ...process.env,
      CHAOS_STATE_DIR: dir,
      CHAOS_DASHBOARD_HTPASSWD: join(dir, 'htpasswd'),
      CHAOS_ACTOR: 'dashboard-test',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  exited = new Promise((r) => up.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    up.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\nup.')) resolve();
    });
    up.once('exit', (code) => reject(new Error(`chaos up exited with ${code}: ${out}`)));
  });
  state = JSON.parse(readFileSync(join(dir, 'up.json'), 'utf8'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  up?.kill('SIGTERM');
  await exited;
}, 30_000);

/** Opens the dashboard and logs in through its form (a session cookie from then on). */
async function loggedIn(width = 1280, height = 1000): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const res = await page.goto(`${state.api}/`);
  expect(res?.status()).toBe(200);
  await page.locator('#username').fill('admin');
  await page.locator('#password').fill('s3cret-pass');
  await page.locator('#login-button').click();
  await expect.poll(async () => page.locator('#actor').textContent(), { timeout: 10_000 }).toBe('admin');
  return page;
}

describe('dashboard in a real browser (Chromium via playwright-core)', () => {
  it('logs in, starts an experiment, shows it injected then recovered, and lists it in history', async () => {
    const page = await loggedIn();
    await page.locator('tr[data-experiment="http-abort-user"] button').click();
    const running = page.locator('tr[data-running="http-abort-user"]');
    await expect.poll(async () => running.locator('.phase').textContent(), { timeout: 10_000 }).toBe('injected');
    // While it holds, what the fault has done so far (the service reports it every second).
    await expect
      .poll(async () => running.locator('.effect').first().textContent(), { timeout: 5_000 })
      .toMatch(/^http-abort: aborted \d+ of \d+ requests$/);
    // The per-target phase (Chaos Mesh's records): the selected replica is injected.
    await expect.poll(async () => running.locator('td').nth(1).textContent()).toMatch(/user-service-[^:]+: injected/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.waitForTimeout(1500); // let the live chart draw a few seconds of load
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    // http-abort-user lasts 8 s; then it is recovered and moves to history.
    await expect
      .poll(async () => page.locator('tr[data-history="http-abort-user"] td').nth(1).textContent(), {
        timeout: 20_000,
        interval: 500,
      })
      .toBe('recovered');
    // With what the fault did at its target, as the agent measured it.
    expect(await page.locator('tr[data-history="http-abort-user"] .effect').first().textContent()).toMatch(
      /^http-abort on user-service-\S+: aborted \d+ of \d+ requests$/,
    );
    await expect.poll(async () => running.count()).toBe(0);
    // The history's trend: each experiment's p99 during its fault over the recorded runs.
    const trend = await page.evaluate(() => {
      const chart = (globalThis as unknown as { Chart: { getChart(id: string): { data: unknown } } }).Chart.getChart(
        'trend',
      );
      return chart?.data as { labels: string[]; datasets: Array<{ label: string; data: number[] }> } | undefined;
    });
    expect(trend?.labels).toEqual(['20261201-100000', '20261202-100000']);
    expect(trend?.datasets.map((d) => [d.label, d.data])).toEqual([['NetworkChaos/network-delay-auth', [120, 180]]]);
    await page.context().close();
  }, 60_000);

  it('pauses and resumes an experiment, previews a schedule, and shows validation errors', async () => {
    const page = await loggedIn();
    await page.locator('tr[data-experiment="network-delay-auth"] button').click();
    const row = page.locator('tr[data-running="network-delay-auth"]');
    await expect.poll(async () => row.locator('.phase').textContent(), { timeout: 10_000 }).toBe('injected');
    await row.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(async () => row.locator('.phase').textContent()).toBe('paused');
    await row.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(async () => row.locator('.phase').textContent()).toBe('injected');
    await row.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(async () => row.count()).toBe(0);
    // A Workflow runs in the background: its first node's targets appear injected; Stop ends it.
    await page.locator('tr[data-experiment="incident-simulation"] button').click();
    const wf = page.locator('tr[data-running="incident-simulation"]');
    await expect.poll(async () => wf.locator('td').nth(1).textContent(), { timeout: 10_000 }).toMatch(/: injected/);
    await wf.getByRole('button', { name: 'Stop' }).click();
    await expect
      .poll(async () => page.locator('tr[data-history="incident-simulation"] td').nth(1).textContent(), {
        timeout: 10_000,
      })
      .toBe('recovered');
    await page.locator('#cron').fill('@every 30m');
    await page.locator('#preview').click();
    await expect.poll(async () => page.locator('#next-runs li').count()).toBe(5);
    await page
      .locator('#yaml')
      .fill(
        'apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata:\n  name: bad\nspec:\n  action: pod-kill\n  mode: some\n',
      );
    await page.locator('#start-yaml').click();
    await expect.poll(async () => page.locator('#error').textContent()).toMatch(/spec.mode: must be one of/);
    await page.context().close();
  }, 60_000);

  it('starts a Schedule, suspends it (its child paused, no new child), resumes it and stops it', async () => {
    const page = await loggedIn(1280, 1400);
    const schedule = [
      'apiVersion: chaos-mesh.org/v1alpha1',
      'kind: Schedule',
      'metadata:',
      '  name: browser-schedule',
      'spec:',
      '  schedule: "@every 2s"',
      '  concurrencyPolicy: Forbid',
      '  historyLimit: 3',
      '  type: NetworkChaos',
      '  networkChaos:',
      '    action: delay',
      '    mode: one',
      '    selector:',
      '      namespaces: [default]',
      '      labelSelectors:',
      '        app: auth-service',
      '        chaos.mesh/safe: "true"',
      '    delay:',
      '      latency: "50ms"',
      '    duration: "60s"',
    ].join('\n');
    await page.locator('#yaml').fill(schedule);
    await page.locator('#start-yaml').click();
    const row = page.locator('tr[data-schedule="browser-schedule"]');
    await expect.poll(async () => row.locator('.state').textContent(), { timeout: 10_000 }).toBe('running');
    // The first tick (2 s) spawns a child, which runs as an experiment of its own.
    const child = page.locator('tr[data-running^="browser-schedule-"]');
    await expect.poll(async () => child.locator('.phase').textContent(), { timeout: 10_000 }).toBe('injected');
    expect(await child.textContent()).toContain('of Schedule/browser-schedule');
    await row.getByRole('button', { name: 'Suspend' }).click();
    await expect.poll(async () => row.locator('.state').textContent()).toBe('paused');
    await expect.poll(async () => child.locator('.phase').textContent()).toBe('paused');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-schedule-suspended.png'), fullPage: true });
    // Two ticks' time while suspended: still the one child.
    await page.waitForTimeout(4_500);
    expect(await row.locator('.children').textContent()).toMatch(/^1 child(?!ren)/);
    await row.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(async () => row.locator('.state').textContent()).toBe('running');
    await expect.poll(async () => child.locator('.phase').textContent()).toBe('injected');
    await row.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(async () => row.locator('.state').textContent()).toBe('stopped');
    await expect.poll(async () => child.count()).toBe(0);
    const audit = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8');
    for (const action of ['api-schedule-start', 'api-schedule-pause', 'api-schedule-resume', 'api-schedule-stop'])
      expect(audit).toMatch(
        new RegExp(`"action":"${action}","subject":"Schedule/browser-schedule","result":"ok","detail":"by admin"`),
      );
    await page.context().close();
  }, 60_000);

  it('logs out: the session ends on the server, the login form shows, and the old cookie is refused', async () => {
    const page = await loggedIn();
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'nova_session', httpOnly: true, sameSite: 'Strict' });
    await page.locator('#logout').click();
    await expect.poll(async () => page.locator('#login-button').count()).toBe(1);
    const replayed = await fetch(`${state.api}/api/v1/experiments`, {
      headers: { cookie: `nova_session=${cookie!.value}` },
    });
    expect(replayed.status).toBe(401);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-login.png') });
    await page.context().close();
  }, 30_000);

  it('refuses a wrong password, and cross-site mutations even with good credentials', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${state.api}/`);
    await page.locator('#username').fill('admin');
    await page.locator('#password').fill('wrong');
    await page.locator('#login-button').click();
    await expect.poll(async () => page.locator('#login-error').textContent()).toMatch(/wrong user name or password/);
    expect(await context.cookies()).toEqual([]);
    await context.close();
    const basic = `Basic ${Buffer.from('admin:s3cret-pass').toString('base64')}`;
    const forged = await fetch(`${state.api}/api/v1/experiments`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'http-abort-user' }),
    });
    expect(forged.status).toBe(403);
    const foreign = await fetch(`${state.api}/api/v1/experiments`, {
      method: 'POST',
      headers: {
        authorization: basic,
        'x-nova-csrf': '1',
        origin: 'http://evil.example',
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(foreign.status).toBe(403);
    expect((await fetch(`${state.api}/api/v1/experiments`)).status).toBe(401);
  });
});
