/**
 * The service `telemetry-cost.ts` loads: `createServiceApp` (every hook a Nova service has, telemetry from the
 * environment) with one trivial route, so that what telemetry adds per request is not lost in the database's and
 * the handler's cost. Prints `ready` once listening on `PORT`; exits on SIGTERM, closing the app (which flushes
 * batched spans).
 */
import { createServiceApp } from '@nova/service-kit';

const app = createServiceApp({ name: 'cost-service' });
app.get(
  '/users/:id',
  {
    schema: {
      params: { type: 'object', properties: { id: { type: 'string' } } },
      response: {
        200: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
      },
    },
  },
  async (request) => ({ id: (request.params as { id: string }).id, name: 'Ada' }),
);
await app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' });
process.stdout.write('ready\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
