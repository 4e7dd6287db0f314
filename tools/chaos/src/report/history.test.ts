import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reportCommand } from '../cli/report-command.ts';
import type { ExperimentResult } from '../run/runner.ts';
import { diffRuns, historyTrend, listRuns, resolveRun, trendOf, type RecordedRun } from './history.ts';
import { html } from './report.ts';

/** An experiment result shaped as the runner writes it into report.json. */
function result(
  name: string,
  o: {
    verdict?: ExperimentResult['verdict'];
    p99?: number;
    errorRate?: number;
    recovery?: number;
    took?: boolean;
  } = {},
): ExperimentResult {
  const p99 = o.p99 ?? 80;
  const errorRate = o.errorRate ?? 0;
  return {
    name,
    kind: 'NetworkChaos',
    file: `k8s/base/chaos-mesh/experiments/${name}.yaml:2`,
    verdict: o.verdict ?? 'pass',
    checks: [
      {
        name: 'error rate during the fault',
        ok: true,
        measured: `${(errorRate * 100).toFixed(1)} % (0/300)`,
        expected: '<= 1.0 %',
      },
      {
        name: 'recovery after the fault',
        ok: true,
        measured: `${(o.recovery ?? 0.5).toFixed(1)} s`,
        expected: '<= 5 s',
      },
    ],
    injected: [{ target: 'auth-service-1', kind: 'http-delay', phase: 'recovered' }],
    durationSeconds: 12,
    figures: {
      baseline: { count: 120, errorRate: 0, p50: 15, p99: 60, errorsBy: new Map() },
      fault: { count: 300, errorRate, p50: 20, p99, errorsBy: new Map() },
    },
    effects: [
      {
        target: 'auth-service',
        kind: 'http-delay',
        effect: { took: o.took ?? true, summary: 'delayed 10 of 10 requests', figures: {} },
      },
    ],
  };
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nova-history-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function record(runId: string, startedAt: string, results: ExperimentResult[]): RecordedRun {
  const run = {
    runId,
    seed: 1,
    startedAt,
    finishedAt: startedAt,
    environment: 'local',
    results,
    samples: [],
    observations: [],
  };
  mkdirSync(join(root, runId));
  writeFileSync(join(root, runId, 'report.json'), JSON.stringify(run));
  return run;
}

describe('run history', () => {
  it('lists recorded runs oldest first, skipping directories without a readable report', () => {
    record('20261127-100000', '2026-11-27T10:00:00.000Z', [result('delay'), result('loss', { verdict: 'fail' })]);
    record('20261126-100000', '2026-11-26T10:00:00.000Z', [result('delay')]);
    mkdirSync(join(root, 'killed-before-report'));
    const runs = listRuns(root);
    expect(runs.map((r) => [r.runId, r.passing, r.counts.pass, r.counts.fail])).toEqual([
      ['20261126-100000', true, 1, 0],
      ['20261127-100000', false, 1, 1],
    ]);
    expect(resolveRun(root, 'last').runId).toBe('20261127-100000');
    expect(resolveRun(root, 'last-passing').runId).toBe('20261126-100000');
    expect(resolveRun(root, 'last', '20261127-100000').runId).toBe('20261126-100000');
    expect(() => resolveRun(root, '2026')).toThrow(
      'no run "2026" (last, last-passing or a run id); recorded runs: 20261126-100000, 20261127-100000',
    );
  });

  it('flags what got worse beyond the thresholds, and only that', () => {
    const a = record('a', '2026-11-26T10:00:00.000Z', [
      result('slower', { p99: 80 }),
      result('noise', { p99: 80 }),
      result('errors', { errorRate: 0 }),
      result('verdict'),
      result('effect'),
      result('recovery', { recovery: 0.5 }),
      result('better', { p99: 300, errorRate: 0.05 }),
      result('gone'),
    ]);
    const b = record('b', '2026-11-27T10:00:00.000Z', [
      result('slower', { p99: 200 }),
      result('noise', { p99: 95 }),
      result('errors', { errorRate: 0.03 }),
      result('verdict', { verdict: 'inconclusive' }),
      result('effect', { took: false }),
      result('recovery', { recovery: 3.5 }),
      result('better', { p99: 90, errorRate: 0 }),
      result('new'),
    ]);
    const changes = diffRuns(a, b);
    const flagged = changes
      .filter((c) => c.regression)
      .map((c) => `${c.experiment} ${c.figure}: ${c.before} → ${c.after} (${c.change})`);
    expect(flagged).toEqual([
      'NetworkChaos/slower p99 during the fault: 80 ms → 200 ms (+120 ms (+150 %))',
      'NetworkChaos/errors error rate during the fault: 0.0 % → 3.0 % (+3.0 points)',
      'NetworkChaos/verdict verdict: PASS → INCONCLUSIVE (pass → inconclusive)',
      'NetworkChaos/effect effect of http-delay on auth-service: took → none (no longer took effect)',
      'NetworkChaos/recovery recovery: 0.5 s → 3.5 s (+3.0 s)',
    ]);
    // +15 ms is under the 20 ms floor; getting better is never a regression; one-sided experiments are listed.
    expect(
      changes.find((c) => c.experiment === 'NetworkChaos/noise' && c.figure === 'p99 during the fault'),
    ).toMatchObject({ change: '+15 ms (+19 %)', regression: false });
    expect(changes.filter((c) => c.experiment === 'NetworkChaos/better').every((c) => !c.regression)).toBe(true);
    expect(changes.filter((c) => c.change.startsWith('only in')).map((c) => `${c.experiment} ${c.change}`)).toEqual([
      'NetworkChaos/new only in b',
      'NetworkChaos/gone only in a',
    ]);
  });

  it('chaos report: lists, diffs with exit 1 on a regression and 0 without, 2 for an unknown run', () => {
    record('20261126-100000', '2026-11-26T10:00:00.000Z', [result('delay', { p99: 80 })]);
    record('20261127-100000', '2026-11-27T10:00:00.000Z', [result('delay', { p99: 300 })]);
    record('20261128-100000', '2026-11-28T10:00:00.000Z', [result('delay', { p99: 310 })]);
    const out: string[] = [];
    const print = (l: string): void => void out.push(l);
    expect(reportCommand([], { reports: root }, print)).toBe(0);
    expect(out[0]).toMatch(/^RUN\s+STARTED \(UTC\)\s+ENV\s+PASSED\s+FAILED\s+INCONCLUSIVE\s+SKIPPED$/);
    expect(out).toHaveLength(4);
    out.length = 0;
    expect(reportCommand(['diff', '20261126-100000', '20261127-100000'], { reports: root }, print)).toBe(1);
    expect(out.join('\n')).toMatch(
      /^REGRESSION\s+NetworkChaos\/delay\s+p99 during the fault\s+80 ms\s+300 ms\s+\+220 ms \(\+275 %\)$/m,
    );
    expect(out.at(-1)).toBe('1 regression between 20261126-100000 and 20261127-100000 (5 figures compared)');
    out.length = 0;
    // The newest against the one before it: +10 ms is not a regression.
    expect(reportCommand(['diff'], { reports: root, against: 'last' }, print)).toBe(0);
    expect(out.at(-1)).toBe('0 regressions between 20261127-100000 and 20261128-100000 (5 figures compared)');
    // A tighter share (3 %) still leaves +10 ms unflagged: it is under the 20 ms floor.
    expect(reportCommand(['diff', '20261127-100000', 'last'], { reports: root, threshold: '3' }, print)).toBe(0);
    expect(reportCommand(['diff', 'nope', 'last'], { reports: root }, print)).toBe(2);
    expect(reportCommand(['diff', 'last'], { reports: root }, print)).toBe(2);
    expect(reportCommand(['diff', 'a', 'b'], { reports: root, threshold: '0' }, print)).toBe(2);
  });
});

describe('the trend over the last runs', () => {
  it('gives each experiment of the current run its p99 in each recent run, null where it did not run', () => {
    const runs = [1, 2, 3, 4].map((d) =>
      record(`2026112${d}-100000`, `2026-11-2${d}T10:00:00.000Z`, d === 2 ? [] : [result('delay', { p99: 50 * d })]),
    );
    const current = runs.at(-1)!;
    const trend = trendOf(runs, current, 3);
    expect(trend.runs).toEqual(['20261122-100000', '20261123-100000', '20261124-100000']);
    expect(trend.p99).toEqual([{ experiment: 'NetworkChaos/delay', points: [null, 150, 200] }]);
    // The HTML report draws it when there is more than one run.
    expect(
      html({ ...current, seed: 1, finishedAt: current.startedAt, samples: [], observations: [] }, trend),
    ).toContain('<canvas id="trend">');
    expect(html({ ...current, seed: 1, finishedAt: current.startedAt, samples: [], observations: [] })).not.toContain(
      '<canvas id="trend">',
    );
  });
});

describe("the dashboard's trend", () => {
  it('covers every experiment of the last runs, not only the newest run, oldest run first', () => {
    const runs = [3, 1, 2].map((d) =>
      record(`2026112${d}-100000`, `2026-11-2${d}T10:00:00.000Z`, [
        result('delay', { p99: 10 * d }),
        ...(d === 1 ? [result('only-first', { p99: 7 })] : []),
      ]),
    );
    const noLoad = result('unloaded');
    noLoad.figures!.fault.count = 0;
    runs[0]!.results.push(noLoad);
    expect(historyTrend(runs)).toEqual({
      runs: ['20261121-100000', '20261122-100000', '20261123-100000'],
      p99: [
        { experiment: 'NetworkChaos/delay', points: [10, 20, 30] },
        { experiment: 'NetworkChaos/only-first', points: [7, null, null] },
      ],
    });
    expect(historyTrend(runs, 2).runs).toEqual(['20261122-100000', '20261123-100000']);
    expect(historyTrend([])).toEqual({ runs: [], p99: [] });
  });
});
