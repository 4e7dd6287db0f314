import { randomBytes, webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

/** The claims of a Nova access token. */
export interface Claims {
  sub: string;
  email: string;
  name: string;
  iat: number;
  exp: number;
}

const ISSUER = 'nova-auth';
const AUDIENCE = 'nova';

/** Signs and verifies HS256 access tokens with one secret key. */
export class TokenService {
  /**
   * The HMAC key, imported once: given the raw bytes, jose imports them into WebCrypto on every sign and
   * verify (20 % of auth-service's CPU under load in a profile, docs/benchmarks.md).
   */
  private readonly key: Promise<webcrypto.CryptoKey>;

  /**
   * @param secret at least 32 characters; when omitted a random key is generated for this process (a dev
   *   default: tokens then die with the process).
   * @param ttlSeconds token lifetime. Default 3 600.
   */
  constructor(
    secret: string | undefined,
    readonly ttlSeconds = 3600,
  ) {
    if (secret !== undefined && secret.length < 32) {
      throw new Error('configuration: JWT_SECRET must be at least 32 characters');
    }
    const raw = secret === undefined ? randomBytes(32) : new TextEncoder().encode(secret);
    this.key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  async sign(user: { id: string; email: string; name: string }): Promise<string> {
    return new SignJWT({ email: user.email, name: user.name })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(await this.key);
  }

  /** The token's claims, or undefined when it is malformed, forged, expired or not ours. */
  async verify(token: string): Promise<Claims | undefined> {
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
      });
      if (typeof payload.sub !== 'string' || typeof payload['email'] !== 'string') return undefined;
      return {
        sub: payload.sub,
        email: payload['email'],
        name: String(payload['name'] ?? ''),
        iat: payload.iat ?? 0,
        exp: payload.exp ?? 0,
      };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return undefined;
      throw error;
    }
  }
}
