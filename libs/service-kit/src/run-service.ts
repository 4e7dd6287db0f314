import { readFileSync } from 'node:fs';
import { AgentConnection } from '@nova/faults';
import { onSupervisorGone } from '@nova/process-kit';
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
  const agent = connectToChaosAgent(app, process.env);
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
    Promise.resolve(agent?.stop())
      .then(() => app.close())
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
  onSupervisorGone(() => shutdown('SIGTERM'));
  return address;
}

/**
 * Registers with the node's chaos agent when `CHAOS_AGENT_ADDR` is set (token from `CHAOS_AGENT_TOKEN` or
 * `CHAOS_AGENT_TOKEN_FILE`), announcing name, `CHAOS_NAMESPACE` (default `default`), labels (`app=<name>`
 * plus `CHAOS_LABELS=k=v,k2=v2`), pid and port. With `CHAOS_AGENT_CA_FILE`, over TLS: the agent's
 * certificate must be signed by that CA and name `CHAOS_AGENT_SERVER_NAME` (default `chaos-agent`).
 */
export function connectToChaosAgent(app: FastifyInstance, env: NodeJS.ProcessEnv): AgentConnection | undefined {
  const address = env['CHAOS_AGENT_ADDR'];
  if (!address) return undefined;
  const tokenFile = env['CHAOS_AGENT_TOKEN_FILE'];
  const token = env['CHAOS_AGENT_TOKEN'] ?? (tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined);
  if (!token)
    throw new Error(
      'configuration: CHAOS_AGENT_ADDR is set but neither CHAOS_AGENT_TOKEN nor CHAOS_AGENT_TOKEN_FILE is',
    );
  const labels: Record<string, string> = { app: app.service.name };
  for (const pair of (env['CHAOS_LABELS'] ?? '').split(',').filter(Boolean)) {
    const [k, v] = pair.split('=');
    if (!k || v === undefined) throw new Error(`configuration: CHAOS_LABELS entry "${pair}" must be key=value`);
    labels[k.trim()] = v.trim();
  }
  const caFile = env['CHAOS_AGENT_CA_FILE'];
  const addr = app.server.address();
  const connection = new AgentConnection({
    address,
    token,
    ...(caFile
      ? { tls: { ca: readFileSync(caFile), serverName: env['CHAOS_AGENT_SERVER_NAME'] ?? 'chaos-agent' } }
      : {}),
    runtime: app.service.faults,
    hello: {
      name: app.service.name,
      namespace: env['CHAOS_NAMESPACE'] ?? 'default',
      labels,
      pid: process.pid,
      ports: typeof addr === 'object' && addr ? [addr.port] : [],
    },
    log: app.log,
  });
  connection.start();
  return connection;
}
