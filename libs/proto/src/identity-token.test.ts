import { describe, expect, it } from 'vitest';
import { identityMismatch, isIdentityToken, mintIdentityToken, verifyIdentityToken } from './identity-token.ts';

const KEY = 'k'.repeat(32);
const id = { name: 'user-service', namespace: 'default', labels: { b: '2', a: '1' } };

describe('identity tokens', () => {
  it('bind an identity that only the key verifies, the same for any label order', () => {
    const t = mintIdentityToken(KEY, id);
    expect(isIdentityToken(t)).toBe(true);
    expect(verifyIdentityToken(KEY, t)).toEqual({
      name: 'user-service',
      namespace: 'default',
      labels: { a: '1', b: '2' },
    });
    expect(mintIdentityToken(KEY, { ...id, labels: { a: '1', b: '2' } })).toBe(t);
    expect(verifyIdentityToken('x'.repeat(32), t)).toBeUndefined();
  });

  it('refuse anything altered or malformed', () => {
    const t = mintIdentityToken(KEY, id);
    const [p, payload, sig] = t.split('.') as [string, string, string];
    const flipped = payload.slice(0, -1) + (payload.endsWith('A') ? 'B' : 'A');
    for (const bad of [
      `${p}.${flipped}.${sig}`,
      `${p}.${payload}.${sig.slice(1)}`,
      `${p}.${payload}`,
      'plain',
      '',
      `x.${payload}.${sig}`,
    ]) {
      expect(verifyIdentityToken(KEY, bad)).toBeUndefined();
    }
    expect(isIdentityToken('plain-token')).toBe(false);
    expect(() => mintIdentityToken('short', id)).toThrow(/at least 16/);
  });

  it('say what a claim changes, and nothing when it matches', () => {
    expect(identityMismatch(id, { ...id, labels: { a: '1', b: '2' } })).toBeUndefined();
    expect(identityMismatch(id, { ...id, name: 'auth-service' })).toMatch(/name "auth-service"/);
    expect(identityMismatch(id, { ...id, namespace: 'prod' })).toMatch(/namespace "prod"/);
    expect(identityMismatch(id, { ...id, labels: { a: '1' } })).toMatch(/label b=undefined/);
    expect(identityMismatch(id, { ...id, labels: { a: '1', b: '2', c: '3' } })).toMatch(/label c=3/);
    expect(identityMismatch(id, { ...id, labels: { a: '1', b: '9' } })).toMatch(/label b=9 is not the token's \(2\)/);
    // An empty namespace is the default one, as the agent files it.
    expect(identityMismatch(id, { ...id, namespace: '' })).toBeUndefined();
  });
});
