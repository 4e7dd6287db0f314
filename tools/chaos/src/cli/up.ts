import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bearer, createAgentClient, unary, type Fault, type Target } from '@nova/proto';
import { startApi } from '../api/server.ts';
import { LoadGenerator, liveTargets } from '../verdict/load.ts';
import { Observer } from '../verdict/observe.ts';
import { ControllerAudit, policyFromEnv } from '../plan/policy.ts';
import { Runner } from '../run/runner.ts';
import { DEFAULT_SUITE, envName, readUpState, ROOT, STATE, UP_FILE, usage, type UpState } from './common.ts';
import { startEnv } from './run.ts';

/** `chaos up`: the environment, the REST API and the dashboard until Ctrl-C; `reports`: the runs it shows. */
export async function up(opts: { 'live-load'?: string; env?: string; reports?: string } = {}): Promise<number> {
  if (readUpState()) usage(`an environment is already up (${UP_FILE}); run chaos down first`);
  const runDir = join(STATE, 'up');
  const env = await startEnv(runDir, (l) => console.log(l), envName(opts.env));
  mkdirSync(STATE, { recursive: true });
  const policy = policyFromEnv();
  const audit = new ControllerAudit(join(STATE, 'audit.jsonl'), policy.actor ?? 'unknown');
  // The API starts faults without verdicts: the runner is used for planning, policy and leases. A live load
  // (--live-load, req/s) feeds the dashboard's live chart.
  const liveRate = Number(opts['live-load'] ?? 0);
  if (!(liveRate >= 0 && liveRate <= 500))
    usage(`--live-load ${opts['live-load']}: expected requests per second from 0 to 500`);
  const idle = new LoadGenerator(liveTargets(env), { ratePerSecond: Math.max(1, liveRate) });
  if (liveRate > 0) {
    await idle.prepare();
    idle.start();
  }
  const htpasswdFile = process.env['CHAOS_DASHBOARD_HTPASSWD'];
  const runner = new Runner(
    env,
    idle,
    new Observer(
      () => [],
      () => idle.now(),
    ),
    {
      runId: 'up',
      seed: randomInt(1, 2 ** 31 - 1),
      baselineMs: 0,
      policy,
      audit,
      log: (l) => console.log(l),
      signal: new AbortController().signal,
    },
  );
  const apiToken = randomBytes(24).toString('hex');
  const api = await startApi({
    runner,
    audit,
    token: apiToken,
    suite: [DEFAULT_SUITE],
    port: Number(process.env['CHAOS_API_PORT'] ?? 0),
    reportsDir: resolve(opts.reports ?? join(ROOT, 'reports')),
    ...(htpasswdFile ? { htpasswd: readFileSync(htpasswdFile, 'utf8') } : {}),
    ...(liveRate > 0 ? { live: idle } : {}),
  });
  const state: UpState = {
    pid: process.pid,
    agent: env.agent.address,
    token: env.agent.token,
    api: api.url,
    apiToken,
    services: env.instances.map((i) => ({ name: i.name, url: i.url, pid: i.pid })),
  };
  writeFileSync(UP_FILE, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.log(`REST API ${api.url}/api/v1/experiments (bearer token in ${relative(process.cwd(), UP_FILE)})`);
  console.log(
    `dashboard ${api.url}/ (${htpasswdFile ? `users of ${htpasswdFile}` : 'set CHAOS_DASHBOARD_HTPASSWD to an htpasswd -B file to log in with a browser'})`,
  );
  console.log(`up. chaos status shows targets and faults; Ctrl-C or chaos down stops everything.`);
  await new Promise<void>((resolveStop) => {
    const stop = (): void => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('stopping...');
  await api.close();
  await runner.recoverAll();
  await idle.stop();
  await env.stop();
  rmSync(UP_FILE, { force: true });
  return 0;
}

export async function down(): Promise<number> {
  const s = readUpState();
  if (!s) {
    console.log('no environment is up');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(s.pid, 0);
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      console.log('stopped');
      return 0;
    }
  }
  console.log(`the chaos up process ${s.pid} did not stop within 30 s`);
  return 1;
}

export async function status(): Promise<number> {
  const s = readUpState();
  if (!s) {
    console.log('no environment is up (chaos up starts one)');
    return 0;
  }
  const client = createAgentClient(s.agent);
  const md = bearer(s.token);
  const { targets } = await unary(client.listTargets.bind(client), {}, md);
  const { faults } = await unary(client.listFaults.bind(client), {}, md);
  client.close();
  console.log(`agent ${s.agent}, controller pid ${s.pid}`);
  for (const t of targets as Target[])
    console.log(
      `  target ${t.id} (${t.namespace}) pid ${t.pid} ports ${t.ports.join(',')} labels ${Object.entries(t.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  console.log(faults.length ? `${faults.length} active fault(s):` : 'no active fault');
  for (const f of faults as Fault[])
    console.log(`  ${f.id}: ${f.kind} on ${f.targetId}, expires ${new Date(f.expiresAtMs).toISOString()}`);
  return 0;
}
