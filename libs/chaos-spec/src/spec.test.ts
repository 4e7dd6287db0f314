import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkUpdate,
  formatIssue,
  loadResources,
  nextRuns,
  parseDuration,
  parseResources,
  parseSchedule,
  seededRandom,
  selectTargets,
  SpecValidationError,
} from './index.ts';

const SUITE = fileURLToPath(new URL('../../../k8s/base/chaos-mesh', import.meta.url));
// The guide's Workflow, copied verbatim into the repository (source: fixtures/README.md).
const GUIDE_WORKFLOW = fileURLToPath(new URL('./fixtures/guide-workflow.yaml', import.meta.url));

const doc = (kind: string, spec: string, extra = ''): string =>
  `apiVersion: chaos-mesh.org/v1alpha1\nkind: ${kind}\nmetadata:\n  name: t${extra}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
const issuesOf = (text: string) =>
  parseResources(text, 'x.yaml').issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
const SEL = 'mode: one\nselector:\n  labelSelectors:\n    app: auth-service';

describe('parseDuration', () => {
  it('reads Go durations and refuses the rest', () => {
    expect(parseDuration('300ms')).toBe(300);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2h45m')).toBe(9_900_000);
    expect(parseDuration('-1s')).toBe(-1000);
    expect(parseDuration('0')).toBe(0);
    for (const bad of ['1d', '10', 'ms', '1 s', '', '1s2']) expect(parseDuration(bad), bad).toBeUndefined();
  });
});

describe('validation', () => {
  it('accepts the default suite, the workflow and the schedule', () => {
    const resources = loadResources([SUITE]);
    expect(resources.map((r) => `${r.kind}/${r.metadata.name}`)).toContain('Workflow/incident-simulation');
    expect(resources.length).toBeGreaterThanOrEqual(9);
    expect(resources.every((r) => r.source.line >= 1 && r.source.file.endsWith('.yaml'))).toBe(true);
  });

  it("rejects the guide's incident-simulation Workflow, saying exactly what is wrong", () => {
    const wf = readFileSync(GUIDE_WORKFLOW, 'utf8');
    const issues = parseResources(wf, 'guide.yaml').issues;
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(byPath['spec.entrypoint']?.message).toMatch(
      /is not a field of Workflow: .*make it a Serial template whose `children` list them/,
    );
    expect(byPath['spec.entrypoint']?.line).toBe(44);
    expect(byPath['spec.templates[2].stressChaos.selector']?.message).toBe('is required');
    expect(byPath['spec.templates[0].networkChaos.duration']?.message).toMatch(/use the template's deadline instead/);
    expect(issues).toHaveLength(3);
  });

  it('names the file, path, line and the valid alternatives for each invalid case', () => {
    const cases: Array<[string, RegExp]> = [
      [
        doc('NetworkChaos', `action: delay\n${SEL}\ndelay:\n  latency: fast`),
        /12 spec.delay.latency: "fast" is not a Go duration/,
      ],
      [
        doc('NetworkChaos', `action: delay\n${SEL}\ndelay:\n  latency: 1d`),
        /spec.delay.latency: "1d" is not a Go duration/,
      ],
      [doc('NetworkChaos', `action: teleport\n${SEL}`), /spec.action: must be one of "netem", "delay"/],
      [
        doc(
          'NetworkChaos',
          `action: delay\nmode: fixed\nselector:\n  labelSelectors:\n    app: a\ndelay:\n  latency: 1s`,
        ),
        /spec.value: is required with mode fixed/,
      ],
      [
        doc(
          'NetworkChaos',
          `action: delay\nmode: fixed-percent\nvalue: "150"\nselector:\n  labelSelectors:\n    app: a\ndelay:\n  latency: 1s`,
        ),
        /spec.value: "150" must be an integer from "1" to "100"/,
      ],
      [
        doc('NetworkChaos', `action: delay\nmode: all\nselector: {}\ndelay:\n  latency: 1s`),
        /spec.selector: selects everything/,
      ],
      [doc('NetworkChaos', `action: delay\n${SEL}`), /spec.delay: is required for action delay/],
      [doc('NetworkChaos', `action: partition\n${SEL}`), /spec.target: is required for a partition/],
      [
        doc('NetworkChaos', `action: bandwidth\n${SEL}\nbandwidth:\n  rate: "10"\n  limit: 1\n  buffer: 1`),
        /spec.bandwidth.rate: "10" needs a unit/,
      ],
      [
        doc('NetworkChaos', `action: delay\n${SEL}\ndelay:\n  latency: 1s\n  jiter: 2ms`),
        /spec.delay.jiter: is not a field of NetworkChaos at spec.delay \(did you mean "jitter"\?\)/,
      ],
      [
        doc('PodChaos', `action: container-kill\n${SEL}`),
        /spec.containerNames: is required \(non-empty\) for container-kill/,
      ],
      [doc('StressChaos', SEL), /spec.stressors: is required/],
      [
        doc('StressChaos', `${SEL}\nstressors:\n  memory:\n    workers: 1\n    size: lots`),
        /spec.stressors.memory.size: "lots" must be a size/,
      ],
      [doc('IOChaos', `action: fault\nvolumePath: /data\nerrno: 0\n${SEL}`), /spec.errno: must be a non-zero errno/],
      [doc('HTTPChaos', `target: Request\nabort: true\n${SEL}`), /spec.port: is required/],
      [
        doc(
          'Schedule',
          `schedule: "every day"\ntype: NetworkChaos\nnetworkChaos:\n  action: delay\n  ${SEL.replace(/\n/g, '\n  ')}\n  delay:\n    latency: 1s`,
        ),
        /spec.schedule: "every day" has 2 fields/,
      ],
      [
        doc(
          'Schedule',
          `schedule: "61 * * * *"\ntype: PodChaos\npodChaos:\n  action: pod-kill\n  ${SEL.replace(/\n/g, '\n  ')}`,
        ),
        /spec.schedule: "61 \* \* \* \*" is not a valid cron expression/,
      ],
      [
        doc('Workflow', 'entry: missing\ntemplates:\n  - name: a\n    templateType: Suspend'),
        /spec.entry: names no template: "missing" is not one of a/,
      ],
      [
        doc('Workflow', 'entry: a\ntemplates:\n  - name: a\n    templateType: Suspend'),
        /spec.templates\[0\].deadline: is required for a Suspend template/,
      ],
      [
        doc('Workflow', 'entry: a\ntemplates:\n  - name: a\n    templateType: Serial\n    children: [b]'),
        /spec.templates\[0\].children\[0\]: "b" names no template/,
      ],
      [doc('Workflow', 'entry: a\ntemplates:\n  - name: a\n    templateType: Dance'), /"Dance" is not a template type/],
      [
        doc('Workflow', 'entry: a\ntemplates:\n  - name: a\n    templateType: PodChaos\n    deadline: 5s'),
        /spec.templates\[0\].podChaos: is required for templateType PodChaos/,
      ],
      ['apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec: {}\n', /kind: must be one of NetworkChaos/],
      [doc('PodChaos', `action: pod-kill\n${SEL}`, '_Bad'), /metadata.name: "t_Bad" is not: a DNS-1123 name/],
      ['kind: [\n', /YAML syntax/],
    ];
    for (const [text, expected] of cases) {
      const found = issuesOf(text);
      expect(found.join('\n'), text).toMatch(expected);
    }
    const err = (() => {
      try {
        loadResources([fileURLToPath(new URL('./fixtures/invalid.yaml', import.meta.url))]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SpecValidationError);
    expect(formatIssue((err as SpecValidationError).issues[0]!)).toMatch(/invalid\.yaml:\d+:\d+ spec\.mode: /);
  });

  it('reads multi-document files, skipping empty documents', () => {
    const text = `${doc('PodChaos', `action: pod-kill\n${SEL}`)}---\n${doc('PodChaos', `action: pod-kill\n${SEL}`, '2')}---\n`;
    const r = parseResources(text, 'multi.yaml');
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => [x.metadata.name, x.source.line])).toEqual([
      ['t', 1],
      ['t2', 12],
    ]);
  });

  it('keeps a chaos spec immutable, while workflows may change', () => {
    const [a] = parseResources(doc('PodChaos', `action: pod-kill\n${SEL}`), 'a.yaml').resources;
    const [b] = parseResources(doc('PodChaos', `action: pod-failure\n${SEL}`), 'a.yaml').resources;
    expect(checkUpdate(a!, a!)).toEqual([]);
    expect(checkUpdate(a!, b!)[0]?.message).toMatch(/cannot update the spec of PodChaos t/);
  });
});

describe('selection', () => {
  const targets = ['a', 'b', 'c', 'd', 'e'].map((n, i) => ({
    id: `user-${n}`,
    name: 'user-service',
    namespace: i === 4 ? 'other' : 'default',
    labels: { app: 'user-service', zone: i % 2 ? 'b' : 'a' },
  }));
  const sel = (mode: string, value?: string, extra: object = {}) =>
    ({ mode, value, selector: { labelSelectors: { app: 'user-service' }, ...extra } }) as never;

  it('applies the modes to the matching targets, in the default namespace unless told', () => {
    const r = seededRandom(1);
    expect(selectTargets(sel('all'), targets, r).selected).toHaveLength(4);
    expect(selectTargets(sel('one'), targets, r).selected).toHaveLength(1);
    expect(selectTargets(sel('fixed', '3'), targets, r).selected).toHaveLength(3);
    expect(selectTargets(sel('fixed-percent', '50'), targets, r).selected).toHaveLength(2);
    expect(
      selectTargets(sel('all', undefined, { namespaces: ['default', 'other'] }), targets, r).selected,
    ).toHaveLength(5);
    const max = selectTargets(sel('random-max-percent', '100'), targets, r).selected.length;
    expect(max).toBeLessThanOrEqual(4);
    const expr = selectTargets(
      sel('all', undefined, { expressionSelectors: [{ key: 'zone', operator: 'In', values: ['b'] }] }),
      targets,
      r,
    );
    expect(expr.selected.map((t) => t.id)).toEqual(['user-b', 'user-d']);
    expect(
      selectTargets(sel('all', undefined, { pods: { other: ['user-e'] } }), targets, r).selected.map((t) => t.id),
    ).toEqual(['user-e']);
  });

  it('replays the same selection with the same seed', () => {
    const pick = (seed: number) =>
      Array.from({ length: 10 }, () => selectTargets(sel('one'), targets, seededRandom(seed)).selected[0]!.id);
    expect(pick(42)).toEqual(pick(42));
    const runs = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 20 }, () =>
        selectTargets(sel('fixed', '2'), targets, r)
          .selected.map((t) => t.id)
          .join(),
      );
    };
    expect(runs(7)).toEqual(runs(7));
    expect(new Set(runs(7)).size).toBeGreaterThan(1);
  });
});

describe('schedules', () => {
  it('parses cron, descriptors and @every, and computes the next runs', () => {
    const from = new Date('2026-11-24T10:00:00Z');
    expect(nextRuns('@every 2m', from, 2).map((d) => d.toISOString())).toEqual([
      '2026-11-24T10:02:00.000Z',
      '2026-11-24T10:04:00.000Z',
    ]);
    expect(parseSchedule('*/30 * * * *').next(from)!.getTime() - from.getTime()).toBe(30 * 60_000);
    expect(parseSchedule('@hourly').next(from)!.getTime() - from.getTime()).toBe(3_600_000);
    expect(parseSchedule('0 */10 * * * *').next(from)!.getTime() - from.getTime()).toBe(600_000);
    expect(() => parseSchedule('@every 1d')).toThrow(/Go duration of at least 1s/);
  });
});
