import { Config, createPool, migrate, runService } from '@nova/service-kit';
import { buildMessagingApp } from './app.ts';
import { migrations } from './migrations.ts';

const config = new Config();
const pool = createPool(config.string('DATABASE_URL'));
await migrate(pool, 'messaging', migrations);
const app = buildMessagingApp({
  pool,
  authServiceUrls: config.urls('AUTH_SERVICE_URLS', 'http://127.0.0.1:3002'),
  userServiceUrls: config.urls('USER_SERVICE_URLS', 'http://127.0.0.1:3001'),
  upstreamTimeoutMs: config.int('UPSTREAM_TIMEOUT_MS', 1_000, { min: 1 }),
});
const address = await runService(app, {
  port: config.int('PORT', 3003, { max: 65535 }),
  host: config.string('HOST', '127.0.0.1'),
  graceMs: config.int('SHUTDOWN_GRACE_MS', 10_000),
  onClose: () => pool.end(),
});
app.log.info({ address }, 'messaging-service listening');
