import { Config, createPool, migrate, runService } from '@nova/service-kit';
import { buildUserApp } from './app.ts';
import { defaultHashConcurrency } from './hashing.ts';
import { migrations } from './migrations.ts';

const config = new Config();
const pool = createPool(config.string('DATABASE_URL'));
await migrate(pool, 'users', migrations);
const app = buildUserApp({
  pool,
  passwordCost: config.int('PASSWORD_HASH_COST', 14, { min: 10, max: 20 }),
  hashConcurrency: config.int('PASSWORD_HASH_CONCURRENCY', defaultHashConcurrency(), { min: 1, max: 64 }),
});
const address = await runService(app, {
  port: config.int('PORT', 3001, { max: 65535 }),
  host: config.string('HOST', '127.0.0.1'),
  graceMs: config.int('SHUTDOWN_GRACE_MS', 10_000),
  onClose: () => pool.end(),
});
app.log.info({ address }, 'user-service listening');
