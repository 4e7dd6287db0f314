import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../../libs/chaos-spec/test/corpus/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'nova-validate-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const validate = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--conditions=@nova/source', '--import', 'tsx', CLI, 'validate', ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'error' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('chaos validate', () => {
  it('answers an alias bomb, an empty file and a missing file with findings and exit 2, never a stack trace', () => {
    const bomb = file(
      'bomb.yaml',
      [
        'a: &a [x,x,x,x,x,x,x,x,x]',
        ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
      ].join('\n'),
    );
    const empty = file('empty.yaml', '# nothing here\n');
    const r = validate(bomb, empty, join(dir, 'missing.yaml'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bomb\.yaml:1:1 \(document\): YAML aliases expand too far/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack frame
    const r2 = validate(empty);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/empty\.yaml:1:1 \(document\): holds no Kubernetes object/);
    const r3 = validate(join(dir, 'missing.yaml'));
    expect(r3.code).toBe(2);
    expect(r3.err).toMatch(/missing\.yaml:1:1 \(document\): cannot be read: ENOENT/);
    expect(r3.err).not.toMatch(/\n\s+at /);
  });

  it('prints a JSON report with --output json', () => {
    const r = validate(
      '--output',
      'json',
      join(CORPUS, 'invalid', 'workflow-entry-not-found.yaml'),
      join(CORPUS, 'valid', 'cm__examples-pod-kill-example.yaml'),
    );
    expect(r.code).toBe(2);
    const report = JSON.parse(r.out);
    expect(report.valid).toBe(false);
    expect(report.resources).toEqual([
      expect.objectContaining({ kind: 'PodChaos', name: 'pod-kill-example', line: expect.any(Number) }),
    ]);
    expect(report.errors).toEqual([
      expect.objectContaining({
        path: 'spec.entry',
        line: expect.any(Number),
        message: expect.stringContaining('names no template'),
      }),
    ]);
    expect(validate('--output', 'yaml', join(CORPUS, 'valid')).code).toBe(2);
  });

  it('warns about a kind it does not model and passes; --strict makes that an error', () => {
    const f = join(CORPUS, 'valid', 'cm__test-integration-test-physical-machine-schedule.yaml');
    const lenient = validate(f);
    expect(lenient.code).toBe(0);
    expect(lenient.out).toMatch(/^ok {2}Schedule\/test/m);
    expect(lenient.err).toMatch(/spec\.type: warning: PhysicalMachineChaos is not modelled by Nova Chaos/);
    const strict = validate('--strict', f);
    expect(strict.code).toBe(2);
    expect(strict.err).toMatch(/1 problem\(s\).*\n.*PhysicalMachineChaos is not modelled/);
  });

  it("reads Nova's annotations too: an unreadable value is an error, an unknown name (a typo) a warning", () => {
    const experiment = (annotations: string) =>
      [
        'apiVersion: chaos-mesh.org/v1alpha1',
        'kind: PodChaos',
        'metadata:',
        '  name: kill',
        '  annotations:',
        annotations,
        'spec:',
        '  action: pod-kill',
        '  mode: one',
        '  selector:',
        '    labelSelectors:',
        '      app: user-service',
      ].join('\n');
    const bad = validate(file('bad-annotation.yaml', experiment('    nova.dev/max-p99-ms: fast')));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(
      /bad-annotation\.yaml:1:1 metadata\.annotations\["nova\.dev\/max-p99-ms"\]: "fast" is not a non-negative number; write ms, e\.g\. "500"/,
    );
    const typo = file('typo-annotation.yaml', experiment('    nova.dev/max-p99: "500"'));
    const lenient = validate(typo);
    expect(lenient.code).toBe(0);
    expect(lenient.err).toMatch(
      /metadata\.annotations\["nova\.dev\/max-p99"\]: warning: unknown Nova annotation: no check reads it \(known: nova\.dev\/max-error-rate, /,
    );
    expect(validate('--strict', typo).code).toBe(2);
    // The default suite declares only what the checks read.
    expect(validate('--strict', join(CORPUS, '../../../../k8s/base/chaos-mesh')).code).toBe(0);
  }, 60_000);
});
