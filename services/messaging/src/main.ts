import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Config, createPool, migrate, runService } from '@nova/service-kit';
import { buildMessagingApp } from './app.ts';
import { migrations } from './migrations.ts';

const config = new Config();
const pool = createPool(config.string('DATABASE_URL'));
// The service's data volume (/var/lib/nova in k8s): it keeps a JSON-lines log of the messages it stores.
const dataDir = config.optional('DATA_DIR');
if (dataDir) mkdirSync(dataDir, { recursive: true });
await migrate(pool, 'messaging', migrations);
const app = buildMessagingApp({
  pool,
  authServiceUrls: config.urls('AUTH_SERVICE_URLS', 'http://127.0.0.1:3002'),
  userServiceUrls: config.urls('USER_SERVICE_URLS', 'http://127.0.0.1:3001'),
  upstreamTimeoutMs: config.int('UPSTREAM_TIMEOUT_MS', 1_000, { min: 1 }),
  ...(dataDir ? { auditLogPath: join(dataDir, 'messages.log') } : {}),
});
const address = await runService(app, {
  port: config.int('PORT', 3003, { max: 65535 }),
  host: config.string('HOST', '127.0.0.1'),
  graceMs: config.int('SHUTDOWN_GRACE_MS', 10_000),
  onClose: () => pool.end(),
});
app.log.info({ address }, 'messaging-service listening');
