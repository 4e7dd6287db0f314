import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResources, type Resource } from '@nova/chaos-spec';
import type { Target } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { checkPolicy, ControllerAudit, policyFromEnv } from './policy.ts';
import { effectSeries, html, junit, verdictTable, type RunReport } from '../report/report.ts';

const res = (text: string): Resource => {
  const r = parseResources(text, 'p.yaml');
  expect(r.issues).toEqual([]);
  return r.resources[0]!;
};
const chaos = (annotations = '', labels = 'app: user-service', duration = '30s', ns = '') =>
  res(
    `apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata:\n  name: p\n${annotations ? `  annotations:\n${annotations}` : ''}spec:\n  action: pod-failure\n  mode: one\n  selector:\n${ns}    labelSelectors:\n      ${labels.replace(/, /g, '\n      ')}\n  duration: ${duration}\n`,
  );
const target = (labels: Record<string, string>, namespace = 'default'): Target => ({
  id: 'u',
  name: 'user-service',
  namespace,
  labels,
  pid: 1,
  ports: [],
  registeredAtMs: 0,
});

describe('safety policy', () => {
  it('allows by default and reads its settings from the environment', () => {
    expect(checkPolicy(chaos(), [target({})], policyFromEnv({ CHAOS_ACTOR: 'me' }))).toEqual([]);
    expect(
      policyFromEnv({ ALLOWED_NAMESPACES: 'a, b', CHAOS_PROFILE: 'production', CHAOS_REQUIRE_SAFE_LABEL: 'true' }),
    ).toMatchObject({ allowedNamespaces: ['a', 'b'], profile: 'production', requireSafeLabel: true });
  });

  it('enforces the namespace allowlist on selectors and targets', () => {
    const p = policyFromEnv({ ALLOWED_NAMESPACES: 'staging', CHAOS_ACTOR: 'me' });
    const out = checkPolicy(chaos(), [target({}, 'default')], p);
    expect(out.join('\n')).toMatch(/spec.selector.namespaces has default, outside ALLOWED_NAMESPACES \(staging\)/);
    expect(out.join('\n')).toMatch(/target user-service is in namespace default/);
  });

  it('requires the opt-in label when configured', () => {
    const p = policyFromEnv({ CHAOS_REQUIRE_SAFE_LABEL: 'true', CHAOS_ACTOR: 'me' });
    expect(checkPolicy(chaos(), [target({ app: 'user-service' })], p)[0]).toMatch(
      /lacks the label chaos.mesh\/safe: "true"/,
    );
    expect(checkPolicy(chaos(), [target({ 'chaos.mesh/safe': 'true' })], p)).toEqual([]);
  });

  it('production: approvals, canary-only selectors, under a minute; security mode needs an actor', () => {
    const prod = policyFromEnv({ CHAOS_PROFILE: 'production', CHAOS_ACTOR: 'me' });
    const bad = checkPolicy(chaos('', 'app: user-service', '5m'), [], prod).join('\n');
    expect(bad).toMatch(/needs the annotation nova.dev\/approved-by/);
    expect(bad).toMatch(/needs the annotation nova.dev\/approval-ticket/);
    expect(bad).toMatch(/must be canary-only in production: add labelSelectors track: canary/);
    expect(bad).toMatch(/must last less than 1 minute/);
    const good = chaos(
      '    nova.dev/approved-by: sre-lead\n    nova.dev/approval-ticket: CHG-42\n',
      'app: user-service, track: canary',
      '30s',
    );
    expect(checkPolicy(good, [], prod)).toEqual([]);
    const anonymous = { ...policyFromEnv({}), actor: undefined };
    expect(checkPolicy(good, [], anonymous)[0]).toMatch(/security mode is on and no actor is known/);
  });

  it('audit-logs actions as JSON lines', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'a.jsonl');
    new ControllerAudit(file, 'alice').write('apply', 'exp/u', 'ok');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      actor: 'alice',
      action: 'apply',
      subject: 'exp/u',
      result: 'ok',
    });
  });
});

describe('reports', () => {
  const report: RunReport = {
    runId: 'r1',
    seed: 5,
    startedAt: '2026-11-24T10:00:00Z',
    finishedAt: '2026-11-24T10:01:00Z',
    environment: 'local',
    results: [
      {
        name: 'a',
        kind: 'PodChaos',
        file: 'a.yaml:1',
        verdict: 'pass',
        checks: [{ name: 'error rate during the fault', ok: true, measured: '0.0 %', expected: '<= 1.0 %' }],
        injected: [],
        durationSeconds: 12,
        phases: { baselineStart: 0, faultStart: 2000, faultEnd: 5000, recoveredAt: 5500 },
        effects: [
          {
            target: 'user-service',
            kind: 'http-abort',
            effect: { took: true, summary: 'aborted 7 of 9 requests', figures: {}, perSecond: [3, 4] },
          },
          { target: 'user-service', kind: 'process-kill', effect: { took: true, summary: 'pid 1 gone', figures: {} } },
        ],
      },
      {
        name: 'b<x>',
        kind: 'NetworkChaos',
        file: 'b.yaml:1',
        verdict: 'fail',
        checks: [{ name: 'p99 during the fault', ok: false, measured: '900 ms', expected: '<= 500 ms' }],
        injected: [],
        durationSeconds: 10,
      },
      {
        name: 'c',
        kind: 'HTTPChaos',
        file: 'c.yaml:1',
        verdict: 'inconclusive',
        checks: [
          { name: 'error rate during the fault', ok: true, measured: '0.0 %', expected: '<= 1.0 %' },
          {
            name: 'fault took effect: http-abort on user-service',
            ok: false,
            measured: 'aborted 0 of 0 requests',
            expected: 'an effect measured at the target',
            evidence: true,
          },
        ],
        injected: [],
        durationSeconds: 11,
      },
    ],
    samples: [
      { at: 100, journey: 'login', latencyMs: 10, ok: true, status: 200 },
      { at: 2500, journey: 'login', latencyMs: 300, ok: false, status: 503 },
    ],
    observations: [
      { at: 2600, breakers: { 'messaging-service->user-service': 1 }, fallbacks: {}, healthy: {}, events: {} },
    ],
  };
  it('prints the verdict table citing the measured values', () => {
    const t = verdictTable(report.results);
    expect(t).toMatch(/PASS\s+PodChaos\/a\s+12s/);
    expect(t).toMatch(/FAIL\s+NetworkChaos\/b<x>.*p99 during the fault: 900 ms \(expected <= 500 ms\)/);
    expect(t).toMatch(
      /INCONCLUSIVE\s+HTTPChaos\/c\s+11s\s+fault took effect: http-abort on user-service: aborted 0 of 0 requests/,
    );
    // In a terminal each verdict has its colour: inconclusive is yellow, neither green nor red.
    const painted = verdictTable(report.results, { color: true }).split('\n');
    const ESC = String.fromCharCode(27);
    expect(painted[1]!.startsWith(`${ESC}[32mPASS${ESC}[39m`)).toBe(true);
    expect(painted[2]!.startsWith(`${ESC}[31mFAIL${ESC}[39m`)).toBe(true);
    expect(painted[3]!.startsWith(`${ESC}[33mINCONCLUSIVE${ESC}[39m`)).toBe(true);
    expect(t).not.toContain('\x1b[');
  });
  it('charts what each request-level fault did per second, on the run clock', () => {
    expect(effectSeries(report.results)).toEqual([
      {
        label: 'a: http-abort on user-service',
        points: [
          { x: 2.5, y: 3 },
          { x: 3.5, y: 4 },
        ],
      },
    ]);
    expect(html(report)).toContain(
      '"effects":[{"label":"a: http-abort on user-service","points":[{"x":2.5,"y":3},{"x":3.5,"y":4}]}]',
    );
  });

  it('writes JUnit with one failure per failed check, escaped', () => {
    const x = junit(report);
    expect(x).toMatch(/tests="3" failures="2" errors="0"/);
    expect(x).toContain(
      '<failure type="inconclusive" message="fault took effect: http-abort on user-service: aborted 0 of 0 requests, expected an effect measured at the target"/>',
    );
    expect(x).toContain('name="b&lt;x&gt;"');
    expect(x).toContain('<failure type="fail" message="p99 during the fault: 900 ms, expected &lt;= 500 ms"/>');
  });
  it('draws the HTML report with Chart.js inlined, fault windows and the breaker timeline', () => {
    const h = html(report);
    expect(h).not.toMatch(/<script src=/);
    expect(h).toContain('"windows":[{"name":"a","from":2,"to":5}]');
    expect(h).toContain('messaging-service->user-service');
    expect(h).toMatch(/seed <b>5<\/b>/);
  });
});
