import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Who a service is, as its environment started it: the name, namespace and labels it may register with.
 * The environment (which knows what it started) mints a token binding them; the agent checks the token's MAC
 * and refuses a `Hello` that claims anything else, so one service's credential cannot register as another.
 */
export interface ServiceIdentity {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

const PREFIX = 'nova-id1';

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function mac(key: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`${PREFIX}.${payload}`).digest();
}

/** Labels in key order, so the same identity always encodes to the same token. */
function canonical(identity: ServiceIdentity): string {
  const labels = Object.fromEntries(Object.entries(identity.labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify({ name: identity.name, namespace: identity.namespace, labels });
}

/**
 * A service's credential bound to its identity: `nova-id1.<identity>.<HMAC-SHA256>`, keyed with the
 * services' secret the agent holds (`--service-token-file`). Give each service only its own.
 */
export function mintIdentityToken(key: string, identity: ServiceIdentity): string {
  if (key.length < 16) throw new RangeError('identity tokens need a key of at least 16 characters');
  const payload = b64(canonical(identity));
  return `${PREFIX}.${payload}.${b64(mac(key, payload))}`;
}

/** True when `token` has the shape of an identity token (whether or not its MAC is good). */
export function isIdentityToken(token: string): boolean {
  return token.startsWith(`${PREFIX}.`);
}

/**
 * The identity a token binds, or undefined when it is not an identity token, is malformed, or its MAC does
 * not verify with `key` (checked in constant time).
 */
export function verifyIdentityToken(key: string, token: string): ServiceIdentity | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return undefined;
  const [, payload, sig] = parts as [string, string, string];
  const expected = mac(key, payload);
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<ServiceIdentity>;
    if (typeof v.name !== 'string' || typeof v.namespace !== 'string' || typeof v.labels !== 'object' || !v.labels)
      return undefined;
    return { name: v.name, namespace: v.namespace, labels: { ...v.labels } };
  } catch {
    return undefined;
  }
}

/**
 * Why a claimed identity disagrees with the one a token binds, or undefined when it matches exactly (the same
 * name and namespace, the same labels: none added, none left out, none changed).
 */
export function identityMismatch(bound: ServiceIdentity, claimed: ServiceIdentity): string | undefined {
  if (claimed.name !== bound.name) return `name "${claimed.name.slice(0, 80)}" is not the token's "${bound.name}"`;
  if ((claimed.namespace || 'default') !== (bound.namespace || 'default'))
    return `namespace "${claimed.namespace.slice(0, 63)}" is not the token's "${bound.namespace}"`;
  const keys = new Set([...Object.keys(bound.labels), ...Object.keys(claimed.labels)]);
  for (const k of keys) {
    if (bound.labels[k] !== claimed.labels[k]) {
      return `label ${k.slice(0, 80)}=${String(claimed.labels[k]).slice(0, 63)} is not the token's (${String(bound.labels[k])})`;
    }
  }
  return undefined;
}
