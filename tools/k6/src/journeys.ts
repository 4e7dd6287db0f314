// The user journeys under a fault: read a profile, log in, send a message, read a conversation, at a fixed
// rate, tagged by phase (baseline → fault → recovery). The fault is started in setup() to begin after the
// baseline and stopped in teardown(); it has a lease, so a killed run leaves nothing behind.
//
//   k6 run tools/k6/src/journeys.ts   (npx nx k6 starts the local stack and sets the environment)
// Environment: USER_URL, AUTH_URL, MESSAGING_URL, CHAOS_API, CHAOS_API_TOKEN, FAULT (an experiment of the
// suite, default network-delay-auth), BASELINE_S (5), FAULT_S (8), RECOVERY_S (5), RATE (20/s), SUMMARY_JSON.
import http from 'k6/http';
import { startFault, stopFault } from './lib/chaos.ts';
import { journeyStep, replicas, type Account } from './lib/journey.ts';
import { phaseAt, phaseFigures, phaseTable, phaseThresholds } from './lib/phases.ts';

const env = (name: string, fallback?: string): string => {
  const v = __ENV[name] ?? fallback;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const BASELINE_S = Number(env('BASELINE_S', '5'));
const FAULT_S = Number(env('FAULT_S', '8'));
const RECOVERY_S = Number(env('RECOVERY_S', '5'));
const USER = env('USER_URL');
const FIRST = (list: string): string => replicas(list)[0]!;
const AUTH = env('AUTH_URL');
const MESSAGING = env('MESSAGING_URL');
const JSON_HEADERS = { 'content-type': 'application/json' };

export const options = {
  scenarios: {
    journeys: {
      executor: 'constant-arrival-rate',
      rate: Number(env('RATE', '20')),
      timeUnit: '1s',
      duration: `${BASELINE_S + FAULT_S + RECOVERY_S}s`,
      preAllocatedVUs: 20,
      maxVUs: 60,
    },
  },
  thresholds: phaseThresholds({
    baseline: { p95Ms: 500, errorRate: 0.01 },
    fault: { p95Ms: 1500, errorRate: 0.05 },
    recovery: { p95Ms: 500, errorRate: 0.01 },
  }),
  setupTimeout: '60s',
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

interface SetupData {
  accounts: Account[];
  faultId: string;
  t0: number;
}

export function setup(): SetupData {
  const run = `${Date.now()}`;
  const accounts: Account[] = [];
  for (let i = 0; i < 3; i++) {
    const email = `k6-${run}-${i}@example.com`;
    const created = http.post(
      `${FIRST(USER)}/users`,
      JSON.stringify({ email, name: `k6 ${i}`, password: 'k6-password' }),
      { headers: JSON_HEADERS, tags: { name: 'setup' } },
    );
    if (created.status !== 201) throw new Error(`creating ${email}: HTTP ${created.status}`);
    const login = http.post(`${FIRST(AUTH)}/auth/login`, JSON.stringify({ email, password: 'k6-password' }), {
      headers: JSON_HEADERS,
      tags: { name: 'setup' },
    });
    accounts.push({
      id: (created.json() as { id: string }).id,
      email,
      token: (login.json() as { token: string }).token,
    });
  }
  // Messaging learns the recipients, as it would have before an incident.
  for (const a of accounts)
    for (const b of accounts)
      if (a !== b) {
        http.post(`${FIRST(MESSAGING)}/messages`, JSON.stringify({ to: b.id, text: 'hello' }), {
          headers: { ...JSON_HEADERS, authorization: `Bearer ${a.token}` },
          tags: { name: 'setup' },
        });
      }
  const faultId = startFault({ name: env('FAULT', 'network-delay-auth'), startInSeconds: BASELINE_S });
  return { accounts, faultId, t0: Date.now() };
}

let n = 0;
export default function (data: SetupData): void {
  journeyStep({ user: replicas(USER), auth: replicas(AUTH), messaging: replicas(MESSAGING) }, data.accounts, n++, {
    phase: phaseAt(data.t0, Date.now(), BASELINE_S, FAULT_S),
  });
}

export function teardown(data: SetupData): void {
  stopFault(data.faultId);
}

export function handleSummary(data: Parameters<typeof phaseFigures>[0]): Record<string, string> {
  const figures = phaseFigures(data);
  const out: Record<string, string> = {
    stdout: `\nper-phase summary (${env('FAULT', 'network-delay-auth')}):\n${phaseTable(figures)}\n`,
  };
  const file = __ENV['SUMMARY_JSON'];
  if (file) out[file] = JSON.stringify({ fault: env('FAULT', 'network-delay-auth'), phases: figures }, null, 2);
  return out;
}
