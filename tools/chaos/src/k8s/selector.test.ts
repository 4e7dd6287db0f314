import { describe, expect, it } from 'vitest';
import { podQuery } from './selector.ts';

describe('a Chaos Mesh selector as list queries', () => {
  it('writes label and expression selectors in Kubernetes selector syntax', () => {
    expect(
      podQuery(
        {
          namespaces: ['default', 'shop'],
          labelSelectors: { app: 'auth-service', 'chaos.mesh/safe': 'true' },
          expressionSelectors: [
            { key: 'tier', operator: 'In', values: ['backend', 'edge'] },
            { key: 'canary', operator: 'NotIn', values: ['true'] },
            { key: 'team', operator: 'Exists' },
            { key: 'legacy', operator: 'DoesNotExist' },
          ],
          annotationSelectors: { 'example.com/owner': 'payments' },
        },
        'ignored',
      ),
    ).toEqual({
      namespaces: ['default', 'shop'],
      labelSelector: 'app=auth-service,chaos.mesh/safe=true,tier in (backend,edge),canary notin (true),team,!legacy',
      fieldSelector: '',
      annotations: { 'example.com/owner': 'payments' },
    });
  });

  it("lists in the chaos object's namespace when the selector names none", () => {
    expect(podQuery({ labelSelectors: { app: 'x' } }, 'shop').namespaces).toEqual(['shop']);
    expect(podQuery(undefined, 'shop')).toEqual({
      namespaces: ['shop'],
      labelSelector: '',
      fieldSelector: '',
      annotations: {},
    });
  });

  it('turns field selectors, one phase and one node into a field selector, and refuses an OR it cannot ask', () => {
    expect(
      podQuery(
        { fieldSelectors: { 'metadata.name': 'web-0' }, podPhaseSelectors: ['Running'], nodes: ['node-1'] } as never,
        'default',
      ).fieldSelector,
    ).toBe('metadata.name=web-0,status.phase=Running,spec.nodeName=node-1');
    expect(() => podQuery({ podPhaseSelectors: ['Running', 'Pending'] } as never, 'default')).toThrow(
      'selector.podPhaseSelectors: 2 values; planning on a cluster takes one (a field selector cannot OR), or none',
    );
  });

  it('lists only the namespaces of pods named explicitly', () => {
    const q = podQuery({ namespaces: ['x'], pods: { shop: ['web-0', 'web-1'] } }, 'default');
    expect(q.namespaces).toEqual(['shop']);
    expect(q.pods).toEqual({ shop: ['web-0', 'web-1'] });
  });
});
