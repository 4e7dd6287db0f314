import { Config, runService } from '@nova/service-kit';
import { buildAuthApp } from './app.ts';
import { TokenService } from './tokens.ts';

const config = new Config();
const secret = config.optional('JWT_SECRET');
const app = buildAuthApp({
  userServiceUrls: config.urls('USER_SERVICE_URLS', 'http://127.0.0.1:3001'),
  tokens: new TokenService(secret, config.int('TOKEN_TTL_SECONDS', 3600, { min: 1 })),
  upstreamTimeoutMs: config.int('UPSTREAM_TIMEOUT_MS', 1_000, { min: 1 }),
});
if (!secret) app.log.warn('JWT_SECRET is not set: using a random key for this process (tokens die with it)');
const address = await runService(app, {
  port: config.int('PORT', 3002, { max: 65535 }),
  host: config.string('HOST', '127.0.0.1'),
  graceMs: config.int('SHUTDOWN_GRACE_MS', 10_000),
});
app.log.info({ address }, 'auth-service listening');
