import type { FastifyInstance } from 'fastify';

/** Options of {@link runService}. */
export interface RunOptions {
  port: number;
  /** Default 127.0.0.1: services listen on loopback unless told otherwise. */
  host?: string;
  /** Time allowed to drain in-flight requests after SIGTERM, in ms, before exiting anyway. Default 10 000. */
  graceMs?: number;
  /** Called once the server is closed, e.g. to close the database pool. */
  onClose?: () => Promise<void>;
}

/**
 * Listens, and on SIGTERM, SIGINT or the loss of its supervisor's IPC channel shuts down gracefully: stop accepting (new requests get 503), let
 * in-flight requests finish, run `onClose`, exit 0, or exit 1 once `graceMs` has passed.
 */
export async function runService(app: FastifyInstance, options: RunOptions): Promise<string> {
  const graceMs = options.graceMs ?? 10_000;
  const address = await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    app.log.info({ signal, graceMs }, 'shutting down: draining in-flight requests');
    app.service.draining = true;
    const force = setTimeout(() => {
      app.log.error({ graceMs }, 'grace period over with requests still running: exiting');
      process.exit(1);
    }, graceMs);
    force.unref();
    app
      .close()
      .then(() => options.onClose?.())
      .then(
        () => {
          app.log.info('shut down cleanly');
          process.exit(0);
        },
        (error: unknown) => {
          app.log.error({ err: error }, 'error while shutting down');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // Started by a supervisor with an IPC channel: if the supervisor dies, so do we (no orphans).
  if (process.connected) process.once('disconnect', () => shutdown('SIGTERM'));
  return address;
}
