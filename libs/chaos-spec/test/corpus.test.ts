import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIssue, parseResources } from '../src/index.ts';

const CORPUS = fileURLToPath(new URL('./corpus/', import.meta.url));
const files = (set: string): string[] => readdirSync(join(CORPUS, set)).filter((f) => f.endsWith('.yaml'));
const read = (set: string, f: string): string => readFileSync(join(CORPUS, set, f), 'utf8');

/** Valid files with a known, right departure from "accepted, no finding" (see corpus/valid/README.md). */
const VALID_EXCEPTIONS: Record<string, { error?: RegExp; warning?: RegExp }> = {
  // `rate` first shipped in Chaos Mesh 2.7.0: an unknown field of 2.6.7, which we model.
  'web__version-2-6-7-simulate-network-chaos-on-kubernetes__fence3-0.yaml': {
    error: /spec\.rate: is not a field of NetworkChaos/,
  },
  // PhysicalMachineChaos: valid, not modelled here.
  'cm__test-integration-test-physical-machine-schedule.yaml': {
    warning: /spec\.type: warning: PhysicalMachineChaos is not modelled by Nova Chaos/,
  },
};

/** The field each invalid file's defect is about, as our message must name it. */
const INVALID_FIELDS: Record<string, RegExp> = {
  'duration-unparseable.yaml': /spec\.duration: "400S" is not a Go duration/,
  'httpchaos-request-method-invalid.yaml': /spec\.method: "gET" is not an HTTP method/,
  'iochaos-fault-without-errno.yaml': /spec\.errno: must be a non-zero errno/,
  'network-bandwidth-rate-without-unit.yaml': /spec\.bandwidth\.rate: "10" needs a unit/,
  'network-direction-from-with-external-targets.yaml': /spec\.direction: from cannot be used with externalTargets/,
  'network-target-fixed-value-zero.yaml': /spec\.target\.value: "0" must be a positive integer/,
  'schedule-cron-unparseable.yaml': /spec\.schedule: "61 \* \* \* \*" is not a valid cron expression/,
  'selector-fixed-without-value.yaml': /spec\.value: is required with mode fixed/,
  'stresschaos-without-stressors.yaml': /spec\.stressors: is required/,
  'workflow-entry-not-found.yaml': /spec\.entry: names no template: "the-entry"/,
};

describe('the Chaos Mesh v2.6.7 corpus', () => {
  it.each(files('valid'))('accepts valid/%s', (f) => {
    const r = parseResources(read('valid', f), f);
    const expected = VALID_EXCEPTIONS[f];
    const errors = r.issues.map(formatIssue);
    const warnings = r.warnings.map(formatIssue);
    if (expected?.error) {
      expect(errors.join('\n')).toMatch(expected.error);
      return;
    }
    expect(errors).toEqual([]);
    expect(r.resources.length).toBeGreaterThan(0);
    if (expected?.warning) {
      expect(warnings.join('\n')).toMatch(expected.warning);
      // --strict makes the unmodelled kind an error.
      expect(parseResources(read('valid', f), f, { strict: true }).issues.map(formatIssue).join('\n')).toMatch(
        /PhysicalMachineChaos is not modelled/,
      );
    } else expect(warnings).toEqual([]);
  });

  it.each(files('invalid'))('rejects invalid/%s with a message naming the field', (f) => {
    const r = parseResources(read('invalid', f), f);
    expect(r.resources).toEqual([]);
    expect(INVALID_FIELDS[f], `add ${f} to INVALID_FIELDS`).toBeDefined();
    expect(r.issues.map(formatIssue).join('\n')).toMatch(INVALID_FIELDS[f]!);
  });
});

/** A minimal valid object of `kind` around a spec fragment. */
const object = (kind: string, spec: string): string => `apiVersion: chaos-mesh.org/v1alpha1
kind: ${kind}
metadata: { name: case, namespace: default }
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
const selector = 'selector: { labelSelectors: { app: web } }\nmode: one';

/**
 * Cases grown from Chaos Mesh's webhook tests and value rules (api/v1alpha1 at v2.6.7): what Chaos Mesh
 * accepts must be accepted, what it rejects must be rejected naming the field.
 */
const ACCEPTED: Array<[string, string]> = [
  // ConvertUnitToBytes trims and lower-cases: "10 Mbps" is 10 MiB/s (networkchaos_webhook.go:67).
  [
    'bandwidth rate with a space and capitals',
    object('NetworkChaos', `action: bandwidth\n${selector}\nbandwidth: { rate: 10 Mbps, limit: 100, buffer: 10000 }`),
  ],
  // tryParseBytes → go-units FromHumanSize: a bare unit letter is enough (stresschaos_webhook.go).
  ['memory size 256M', object('StressChaos', `${selector}\nstressors: { memory: { workers: 1, size: 256M } }`)],
  ['memory size 50%', object('StressChaos', `${selector}\nstressors: { memory: { workers: 1, size: "50%" } }`)],
  // robfig/cron v3 Parse: a CRON_TZ= or TZ= prefix.
  [
    'schedule with CRON_TZ=UTC',
    object(
      'Schedule',
      `schedule: "CRON_TZ=UTC 0 6 * * *"\ntype: PodChaos\npodChaos: { action: pod-kill, ${selector.replace('\n', ', ')} }`,
    ),
  ],
  [
    'schedule with TZ=Europe/Paris and a descriptor',
    object(
      'Schedule',
      `schedule: "TZ=Europe/Paris @daily"\ntype: PodChaos\npodChaos: { action: pod-kill, ${selector.replace('\n', ', ')} }`,
    ),
  ],
  // EmbedChaos json tags: ioChaos and httpChaos, as Chaos Mesh's own etcd IOChaos schedule uses.
  [
    'Schedule embedding ioChaos',
    object(
      'Schedule',
      `schedule: "@every 10m"\ntype: IOChaos\nioChaos:\n  action: latency\n  ${selector.replace('\n', '\n  ')}\n  volumePath: /var/run/etcd\n  path: /var/run/etcd/**/*\n  delay: 100ms\n  percent: 50\n  duration: 30s`,
    ),
  ],
  [
    'Workflow embedding httpChaos and ioChaos',
    object(
      'Workflow',
      `entry: all\ntemplates:\n  - name: all\n    templateType: Serial\n    children: [http, io]\n  - name: http\n    templateType: HTTPChaos\n    deadline: 30s\n    httpChaos: { target: Request, port: 80, abort: true, ${selector.replace('\n', ', ')} }\n  - name: io\n    templateType: IOChaos\n    deadline: 30s\n    ioChaos: { action: latency, volumePath: /data, delay: 10ms, ${selector.replace('\n', ', ')} }`,
    ),
  ],
  // The DNSChaos example of Chaos Mesh's docs (v2.6.7 simulate-dns-chaos-on-kubernetes): modelled and run here.
  [
    'DNSChaos random with templates',
    object('DNSChaos', `action: random\n${selector}\npatterns: [google.com, chaos-mesh.*, github.?om]`),
  ],
  [
    'Schedule embedding dnsChaos',
    object(
      'Schedule',
      `schedule: "@every 1h"\ntype: DNSChaos\ndnsChaos: { action: error, patterns: [user-service], duration: 30s, ${selector.replace('\n', ', ')} }`,
    ),
  ],
];

const REJECTED: Array<[string, string, RegExp]> = [
  [
    'DNSChaos with an unknown action',
    object('DNSChaos', `action: drop\n${selector}`),
    /spec\.action: must be one of "error", "random", got "drop"/,
  ],
  // IOChaosSpec.validatePercent: "percent field should be in 0-100".
  [
    'IOChaos percent over 100',
    object('IOChaos', `action: latency\n${selector}\nvolumePath: /data\ndelay: 10ms\npercent: 101`),
    /spec\.percent: must be from 0 to 100, got 101/,
  ],
  // tryParseBytes: "illegal proportion".
  [
    'memory size 150%',
    object('StressChaos', `${selector}\nstressors: { memory: { workers: 1, size: "150%" } }`),
    /spec\.stressors\.memory\.size: "150%": a percentage must be from 0% to 100%/,
  ],
  // ConvertUnitToBytes: strconv.ParseUint refuses a fraction.
  [
    'fractional rate',
    object('NetworkChaos', `action: bandwidth\n${selector}\nbandwidth: { rate: 1.5mbps, limit: 100, buffer: 10000 }`),
    /spec\.bandwidth\.rate: "1\.5mbps": the number before mbps must be a whole number/,
  ],
  // HTTPChaos: the field is present, so say what is wrong with it, not that it is missing.
  [
    'HTTPChaos port -1',
    object('HTTPChaos', `target: Request\nport: -1\nabort: true\n${selector}`),
    /spec\.port: must be a port from 1 to 65535, got -1/,
  ],
  [
    'schedule with an unknown time zone',
    object(
      'Schedule',
      `schedule: "CRON_TZ=Mars/Olympus 0 6 * * *"\ntype: PodChaos\npodChaos: { action: pod-kill, ${selector.replace('\n', ', ')} }`,
    ),
    /spec\.schedule: .*"Mars\/Olympus" is not a time zone/,
  ],
  // FloatStr.Validate: strconv.ParseFloat.
  [
    'loss that is not a number',
    object('NetworkChaos', `action: loss\n${selector}\nloss: { loss: "ten" }`),
    /spec\.loss\.loss: "ten" must be a number in a string/,
  ],
];

describe('cases grown from Chaos Mesh webhook tests and value rules', () => {
  it.each(ACCEPTED)('accepts: %s', (_name, yaml) => {
    const r = parseResources(yaml, 'case.yaml');
    expect(r.issues.map(formatIssue)).toEqual([]);
    expect(r.resources).toHaveLength(1);
  });

  it.each(REJECTED)('rejects: %s', (_name, yaml, message) => {
    const r = parseResources(yaml, 'case.yaml');
    expect(r.resources).toEqual([]);
    expect(r.issues.map(formatIssue).join('\n')).toMatch(message);
  });

  it('warns about a DNSChaos pattern with * before its end (the webhook accepts it; the DNS server will not)', () => {
    const r = parseResources(
      object('DNSChaos', `action: error\n${selector}\npatterns: [ok.example, chaos-*.org]`),
      'case.yaml',
    );
    expect(r.issues).toEqual([]);
    expect(r.warnings.map(formatIssue).join('\n')).toMatch(
      /spec\.patterns\[1\]: warning: "chaos-\*\.org": the wildcard \* may only end a pattern/,
    );
  });

  it('validates the rest of a workflow that embeds a kind it does not model, and warns about that kind', () => {
    const yaml = object(
      'Workflow',
      `entry: all\ntemplates:\n  - name: all\n    templateType: Serial\n    children: [jvm, bad]\n  - name: jvm\n    templateType: JVMChaos\n    deadline: 30s\n    jvmChaos: { action: latency, class: Main, method: run, latency: 100, port: 9277, ${selector.replace('\n', ', ')} }\n  - name: bad\n    templateType: NetworkChaos\n    deadline: 30s\n    networkChaos: { action: delay, delay: { latency: 10 parsecs }, ${selector.replace('\n', ', ')} }`,
    );
    const r = parseResources(yaml, 'case.yaml');
    expect(r.warnings.map(formatIssue).join('\n')).toMatch(
      /spec\.templates\[1\]\.templateType: warning: JVMChaos is not modelled by Nova Chaos/,
    );
    // The rest is still checked: the NetworkChaos template's bad latency is found.
    expect(r.issues.map(formatIssue).join('\n')).toMatch(
      /spec\.templates\[2\]\.networkChaos\.delay\.latency: "10 parsecs" is not a Go duration/,
    );
  });
});
