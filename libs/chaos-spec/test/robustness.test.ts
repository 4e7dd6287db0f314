import { describe, expect, it } from 'vitest';
import { formatIssue, MAX_FILE_BYTES, parseResources } from '../src/index.ts';

/** Each level refers to the previous one nine times: 9^9 nodes if expanded. */
const aliasBomb = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
].join('\n');

describe('parser robustness: bad input is a finding with a line, never an exception', () => {
  it('says an empty or comments-only file holds no object', () => {
    for (const text of ['', '# just a comment\n# and another\n', '---\n---\n']) {
      const r = parseResources(text, 'empty.yaml');
      expect(r.resources).toEqual([]);
      expect(r.issues.map(formatIssue)).toEqual([
        'empty.yaml:1:1 (document): holds no Kubernetes object: an experiment file needs at least one (apiVersion: chaos-mesh.org/v1alpha1, kind, metadata, spec)',
      ]);
    }
  });

  it('reports a YAML alias bomb at its line instead of expanding it', () => {
    let r: ReturnType<typeof parseResources> | undefined;
    expect(
      () => (r = parseResources(`apiVersion: chaos-mesh.org/v1alpha1\n${aliasBomb}\n`, 'bomb.yaml')),
    ).not.toThrow();
    expect(r!.resources).toEqual([]);
    expect(r!.issues.map(formatIssue).join('\n')).toMatch(
      /^bomb\.yaml:1:1 \(document\): YAML aliases expand too far .*at most 100 alias uses per document$/,
    );
  });

  it('reports a YAML syntax error with its line and column', () => {
    const r = parseResources(
      'apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: { name: x\n',
      'broken.yaml',
    );
    expect(r.issues).not.toHaveLength(0);
    expect(r.issues[0]!.message).toMatch(/^YAML syntax: /);
    expect(r.issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('refuses a file over 1 MiB without parsing it', () => {
    const r = parseResources(`# ${'x'.repeat(MAX_FILE_BYTES)}\n`, 'huge.yaml');
    expect(r.issues.map(formatIssue)).toEqual([
      `huge.yaml:1:1 (document): is ${MAX_FILE_BYTES + 3} bytes: experiment files are at most ${MAX_FILE_BYTES} bytes (1 MiB); split it`,
    ]);
  });

  it('says a document that is not a mapping must be an object', () => {
    const r = parseResources('- just\n- a list\n', 'list.yaml');
    expect(r.issues.map((i) => i.message)).toEqual([
      'each document must be a Kubernetes object (apiVersion, kind, metadata, spec)',
    ]);
  });
});
