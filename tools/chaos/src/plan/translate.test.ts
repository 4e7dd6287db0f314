import { parseResources, seededRandom, type ChaosResource } from '@nova/chaos-spec';
import type { Target } from '@nova/proto';
import { describe, expect, it } from 'vitest';
import { parseRate, planChaos, UnsupportedLocallyError } from './translate.ts';

const t = (id: string, app: string, extra: Record<string, string> = {}): Target => ({
  id,
  name: app,
  namespace: 'default',
  labels: { app, 'chaos.mesh/safe': 'true', ...extra },
  pid: 1,
  ports: [],
  registeredAtMs: 0,
});
const targets = [
  t('user-0', 'user-service'),
  t('user-1', 'user-service'),
  t('auth-0', 'auth-service'),
  t('msg-0', 'messaging-service'),
];
const ctx = { namespace: 'default', defaultDurationMs: 10_000, dataDirOf: (x: Target) => `/tmp/data/${x.id}` };

function resource(kind: string, spec: string): ChaosResource {
  const text = `apiVersion: chaos-mesh.org/v1alpha1\nkind: ${kind}\nmetadata:\n  name: t\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
  const r = parseResources(text, 't.yaml');
  expect(r.issues).toEqual([]);
  return r.resources[0] as ChaosResource;
}
const plan = (kind: string, spec: string) => {
  const r = resource(kind, spec);
  return planChaos(r.kind, r.spec, targets, seededRandom(3), ctx);
};
const sel = (app: string, mode = 'one') => `mode: ${mode}\nselector:\n  labelSelectors:\n    app: ${app}`;

describe('planChaos (Chaos Mesh → agent faults)', () => {
  it('maps NetworkChaos delay without a target to inbound delay, with ms, jitter and correlation', () => {
    const p = plan(
      'NetworkChaos',
      `action: delay\n${sel('auth-service')}\ndelay:\n  latency: 100ms\n  jitter: 10ms\n  correlation: "50"\nduration: 8s`,
    );
    expect(p.faults).toEqual([
      { target: targets[2], kind: 'http-delay', spec: { latencyMs: 100, jitterMs: 10, correlation: 50 } },
    ]);
    expect(p.durationMs).toBe(8000);
  });

  it('maps a partition to outbound cuts towards the target service, on both sides for direction both', () => {
    const to = plan(
      'NetworkChaos',
      `action: partition\n${sel('messaging-service', 'all')}\ndirection: to\ntarget:\n  ${sel('user-service', 'all').replace(/\n/g, '\n  ')}`,
    );
    expect(to.faults.map((f) => [f.target.id, f.kind, f.spec['target']])).toEqual([
      ['msg-0', 'net-partition', 'user-service'],
    ]);
    const both = plan(
      'NetworkChaos',
      `action: partition\n${sel('messaging-service', 'all')}\ndirection: both\ntarget:\n  ${sel('user-service', 'all').replace(/\n/g, '\n  ')}`,
    );
    expect(both.faults.map((f) => [f.target.id, f.spec['target']])).toEqual([
      ['msg-0', 'user-service'],
      ['user-0', 'messaging-service'],
      ['user-1', 'messaging-service'],
    ]);
  });

  it("reads rates and memory sizes by Chaos Mesh's own rules: 10 Mbps, 256M", () => {
    expect(parseRate('10 Mbps')).toBe(10 * 1024 ** 2);
    expect(() => parseRate('1.5mbps')).toThrow(UnsupportedLocallyError);
    expect(
      plan('StressChaos', `${sel('auth-service')}\nstressors:\n  memory:\n    workers: 1\n    size: 256M`).faults[0]!
        .spec,
    ).toEqual({ size: 256_000_000 });
    expect(() =>
      plan('StressChaos', `${sel('auth-service')}\nstressors:\n  memory:\n    workers: 1\n    size: "50%"`),
    ).toThrow(/percentage needs a container memory limit/);
  });

  it('maps pod-kill, pod-failure, stress, IO and HTTP chaos', () => {
    expect(plan('PodChaos', `action: pod-kill\ngracePeriod: 0\n${sel('user-service')}`).faults[0]).toMatchObject({
      kind: 'process-kill',
      spec: { signal: 'SIGKILL' },
    });
    expect(plan('PodChaos', `action: pod-kill\ngracePeriod: 5\n${sel('user-service')}`).faults[0]!.spec).toEqual({
      signal: 'SIGTERM',
      gracePeriodMs: 5000,
    });
    expect(plan('PodChaos', `action: pod-failure\n${sel('user-service')}`).faults[0]!.kind).toBe('process-failure');
    expect(
      plan(
        'StressChaos',
        `${sel('auth-service')}\nstressors:\n  cpu:\n    workers: 2\n    load: 70\n  memory:\n    workers: 1\n    size: 64MB`,
      ).faults.map((f) => [f.kind, f.spec]),
    ).toEqual([
      ['cpu-stress', { workers: 2, load: 70 }],
      ['memory-stress', { size: 64_000_000 }],
    ]);
    const io = plan(
      'IOChaos',
      `action: fault\n${sel('messaging-service')}\nvolumePath: /var/lib/nova\npath: /var/lib/nova/**/*.log\nerrno: 28\nmethods: [write, create]\npercent: 50`,
    );
    expect(io.faults[0]).toMatchObject({
      kind: 'io-fault',
      spec: { path: '/tmp/data/msg-0/**/*.log', errno: 28, methods: ['write', 'open'], percent: 50 },
    });
    const http = plan(
      'HTTPChaos',
      `${sel('user-service')}\ntarget: Request\nport: 3001\npath: /users/*\nmethod: GET\nabort: true\ndelay: 50ms\nreplace:\n  code: 503`,
    );
    expect(http.faults.map((f) => [f.kind, f.spec])).toEqual([
      ['http-abort', { path: '/users/*', method: 'GET' }],
      ['http-delay', { path: '/users/*', method: 'GET', latencyMs: 50 }],
      ['http-error', { path: '/users/*', method: 'GET', status: 503 }],
    ]);
  });

  it('plans the kinds run in-process: TimeChaos, DNSChaos, HTTPChaos replace/patch, NetworkChaos duplicate/corrupt', () => {
    expect(
      plan(
        'TimeChaos',
        `${sel('auth-service')}\ntimeOffset: -1h30m\nclockIds: [CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME]`,
      ).faults[0],
    ).toMatchObject({ kind: 'time-offset', spec: { offsetMs: -5_400_000, clocks: ['realtime', 'monotonic'] } });
    expect(plan('TimeChaos', `${sel('auth-service')}\ntimeOffset: 10m`).faults[0]!.spec).toEqual({
      offsetMs: 600_000,
      clocks: ['realtime'],
    });
    expect(
      plan('DNSChaos', `action: random\n${sel('messaging-service')}\npatterns: [user-service*]`).faults[0],
    ).toMatchObject({ kind: 'dns-fault', spec: { action: 'random', patterns: ['user-service*'] } });
    const req = plan(
      'HTTPChaos',
      `${sel('user-service')}\ntarget: Request\nport: 3001\npath: /users/*\nreplace:\n  code: 503\n  path: /x\n  queries: { a: b }\npatch:\n  headers: [[x-a, "1"]]`,
    );
    expect(req.faults.map((f) => [f.kind, f.spec])).toEqual([
      ['http-error', { path: '/users/*', status: 503 }],
      [
        'http-rewrite',
        {
          path: '/users/*',
          target: 'request',
          replace: { path: '/x', queries: { a: 'b' } },
          patch: { headers: [['x-a', '1']] },
        },
      ],
    ]);
    const res = plan(
      'HTTPChaos',
      `${sel('user-service')}\ntarget: Response\nport: 3001\nreplace:\n  code: 418\npatch:\n  body: { type: JSON, value: '{"a":1}' }`,
    );
    expect(res.faults.map((f) => [f.kind, f.spec])).toEqual([
      [
        'http-rewrite',
        { target: 'response', replace: { code: 418 }, patch: { body: { type: 'JSON', value: '{"a":1}' } } },
      ],
    ]);
    const users = `target:\n  ${sel('user-service', 'all').replace(/\n/g, '\n  ')}`;
    const dup = plan(
      'NetworkChaos',
      `action: duplicate\n${sel('messaging-service', 'all')}\nduplicate:\n  duplicate: "40"\n${users}`,
    );
    expect(dup.faults.map((f) => [f.kind, f.spec])).toEqual([
      ['net-duplicate', { percent: 40, target: 'user-service' }],
    ]);
    expect(dup.notes.join()).toMatch(/whole requests are sent twice/);
  });

  it('refuses, before anything runs, what the local environment cannot do', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'NetworkChaos',
        `action: corrupt\n${sel('auth-service')}\ncorrupt:\n  corrupt: "10"`,
        /corrupt without a target: in-process, it acts on calls to a target service/,
      ],
      [
        'NetworkChaos',
        `action: delay\n${sel('auth-service')}\nexternalTargets: [example.com]\ndelay:\n  latency: 1s`,
        /no external hosts/,
      ],
      [
        'TimeChaos',
        `${sel('auth-service')}\ntimeOffset: -5m\nclockIds: [CLOCK_PROCESS_CPUTIME_ID]`,
        /TimeChaos clockIds CLOCK_PROCESS_CPUTIME_ID: in-process, the shifted clocks are CLOCK_REALTIME/,
      ],
      [
        'HTTPChaos',
        `${sel('user-service')}\ntarget: Response\nport: 3001\ncode: 200\nreplace:\n  code: 500`,
        /HTTPChaos code and response_headers select responses/,
      ],
      [
        'StressChaos',
        `${sel('auth-service')}\nstressors:\n  memory:\n    workers: 1\n    size: 50%`,
        /percentage needs a container memory limit/,
      ],
      ['PodChaos', `action: pod-kill\n${sel('billing-service')}`, /matches no registered service/],
    ];
    for (const [kind, spec, message] of cases) {
      const r = resource(kind, spec);
      expect(() => planChaos(r.kind, r.spec, targets, seededRandom(1), ctx), kind).toThrow(UnsupportedLocallyError);
      expect(() => planChaos(r.kind, r.spec, targets, seededRandom(1), ctx)).toThrow(message);
    }
  });

  it('converts Chaos Mesh rates (bytes, ×1024 steps)', () => {
    expect(parseRate('1mbps')).toBe(1024 * 1024);
    expect(parseRate('100kbps')).toBe(102_400);
  });

  describe('in the containers environment (Docker and kernel drivers)', () => {
    const c = (id: string, app: string): Target => t(id, app, { 'nova.dev/container': `run-${id}` });
    const ctargets = [
      c('user-0', 'user-service'),
      c('user-1', 'user-service'),
      c('auth-0', 'auth-service'),
      c('msg-0', 'messaging-service'),
    ];
    const cplan = (kind: string, spec: string, netem = false) => {
      const r = resource(kind, spec);
      return planChaos(r.kind, r.spec, ctargets, seededRandom(3), { ...ctx, layer: { layer: 'container', netem } });
    };
    const towardsUsers = `target:\n  ${sel('user-service', 'all').replace(/\n/g, '\n  ')}`;

    it('puts partition, loss and duplicate into the kernel of the selected containers, naming the peer containers', () => {
      const part = cplan(
        'NetworkChaos',
        `action: partition\n${sel('messaging-service', 'all')}\ndirection: both\n${towardsUsers}`,
      );
      expect(part.faults.map((f) => [f.target.id, f.kind, f.spec])).toEqual([
        ['msg-0', 'kernel-partition', { direction: 'both', peers: ['run-user-0', 'run-user-1'] }],
      ]);
      const loss = cplan(
        'NetworkChaos',
        `action: loss\n${sel('messaging-service', 'all')}\nloss:\n  loss: "30"\n${towardsUsers}`,
      );
      expect(loss.faults[0]).toMatchObject({
        kind: 'kernel-loss',
        spec: { direction: 'to', percent: 30, peers: ['run-user-0', 'run-user-1'] },
      });
      const dup = cplan(
        'NetworkChaos',
        `action: duplicate\n${sel('messaging-service', 'all')}\nduplicate:\n  duplicate: "50"\n${towardsUsers}`,
      );
      expect(dup.faults[0]).toMatchObject({ kind: 'kernel-duplicate', spec: { percent: 50 } });
      expect(() =>
        cplan('NetworkChaos', `action: duplicate\n${sel('messaging-service', 'all')}\nduplicate:\n  duplicate: "50"`),
      ).toThrow(/duplicate without a target/);
    });

    it('limits bandwidth with tbf, and sends delay to netem where the kernel has it, else in-process with a note', () => {
      const bw = cplan(
        'NetworkChaos',
        `action: bandwidth\n${sel('auth-service')}\nbandwidth:\n  rate: 1mbps\n  limit: 20971520\n  buffer: 10000`,
      );
      expect(bw.faults[0]).toMatchObject({
        kind: 'kernel-bandwidth',
        spec: { bytesPerSecond: 1024 ** 2, limitBytes: 20971520, bufferBytes: 10000 },
      });
      const delay = `action: delay\n${sel('auth-service')}\ndelay:\n  latency: 100ms\n  jitter: 10ms\n  correlation: "50"`;
      expect(cplan('NetworkChaos', delay, true).faults[0]).toMatchObject({
        kind: 'kernel-netem',
        spec: { delayMs: 100, jitterMs: 10, correlation: 50 },
      });
      const fallback = cplan('NetworkChaos', delay, false);
      expect(fallback.faults[0]!.kind).toBe('http-delay');
      expect(fallback.notes.join()).toMatch(/no netem qdisc.*in-process/);
      // Corrupt without netem: between services it falls back to the in-process layer, like delay.
      expect(() => cplan('NetworkChaos', `action: corrupt\n${sel('auth-service')}\ncorrupt:\n  corrupt: "10"`)).toThrow(
        /corrupt without a target/,
      );
      const corrupt = cplan(
        'NetworkChaos',
        `action: corrupt\n${sel('messaging-service')}\ncorrupt:\n  corrupt: "10"\n${towardsUsers}`,
        false,
      );
      expect(corrupt.faults[0]).toMatchObject({ kind: 'net-corrupt', spec: { percent: 10, target: 'user-service' } });
    });

    it('kills and pauses containers through Docker and squeezes their CPU for StressChaos', () => {
      expect(cplan('PodChaos', `action: pod-kill\ngracePeriod: 5\n${sel('user-service')}`).faults[0]).toMatchObject({
        kind: 'container-kill',
        spec: { signal: 'SIGTERM', gracePeriodMs: 5000 },
      });
      expect(
        cplan('PodChaos', `action: container-kill\ncontainerNames: [user]\n${sel('user-service')}`).faults[0],
      ).toMatchObject({ kind: 'container-kill', spec: { signal: 'SIGKILL' } });
      expect(cplan('PodChaos', `action: pod-failure\n${sel('user-service')}`).faults[0]!.kind).toBe('container-pause');
      const stress = cplan('StressChaos', `${sel('auth-service')}\nstressors:\n  cpu:\n    workers: 1\n    load: 60`);
      expect(stress.faults[0]).toMatchObject({ kind: 'container-stress', spec: { workers: 1, load: 60 } });
    });

    it('refuses a target that does not run in a container', () => {
      const r = resource('PodChaos', `action: pod-kill\n${sel('user-service')}`);
      const plain = planChaos(r.kind, r.spec, targets, seededRandom(3), {
        ...ctx,
        layer: { layer: 'container', netem: false },
      });
      expect(plain.faults[0]!.kind).toBe('container-kill');
      const part = resource('NetworkChaos', `action: partition\n${sel('messaging-service', 'all')}\n${towardsUsers}`);
      expect(() =>
        planChaos(part.kind, part.spec, targets, seededRandom(3), {
          ...ctx,
          layer: { layer: 'container', netem: false },
        }),
      ).toThrow(/nova.dev\/container/);
    });
  });
});
