import { randomBytes } from 'node:crypto';
import { DOCKER_LABELS as LABELS, mintIdentityToken, TARGET_LABELS } from '@nova/proto';
import type { EnvironmentInstance, ServiceName } from '@nova/stack';
import { GenericContainer, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import type { ImageNames } from './images.ts';
import { SERVICE_UID, serviceCommand, WORKSPACE_ROOT, type WorkspaceMode } from './workspace.ts';

/** The port every service listens on in its container. */
const PORT = 8080;

/** One service container of a run. */
export interface Replica extends EnvironmentInstance {
  container: StartedTestContainer;
  containerName: string;
  url: string;
  running: boolean;
  restarts: number;
}

/** What the containers of one run share: their network, labels, images and the agent they register with. */
export interface RunWiring {
  runId: string;
  network: StartedNetwork;
  /** The run's Docker labels (run id, controller pid), on every container. */
  labels: Record<string, string>;
  names: ImageNames;
  workspace: WorkspaceMode;
  agentAddress: string;
  /** The services' credential, from which each container's identity token is minted. */
  serviceToken: string;
}

/** PostgreSQL for the run, ready for connections. */
export async function startPostgres(w: RunWiring): Promise<StartedTestContainer> {
  const publicPostgres = Boolean(process.env['NOVA_POSTGRES_IMAGE']);
  return (
    new GenericContainer(w.names.postgres)
      .withName(`${w.runId}-postgres`)
      .withNetwork(w.network)
      .withLabels(w.labels)
      .withEnvironment({ POSTGRES_USER: 'nova', POSTGRES_PASSWORD: 'nova', POSTGRES_DB: 'postgres' })
      // The public image prints this once for its init server and once for the real one.
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, publicPostgres ? 2 : 1))
      .withStartupTimeout(60_000)
      .start()
  );
}

/**
 * The services' containers (user × `userReplicas`, auth, messaging), each recorded in `started` as soon as it
 * runs, so a failed start leaves nothing that `stop` does not remove.
 */
export async function startServices(
  w: RunWiring,
  userReplicas: number,
  started: StartedTestContainer[],
): Promise<Replica[]> {
  const plan: Array<{ service: ServiceName; replica: number }> = [
    ...Array.from({ length: userReplicas }, (_, i) => ({ service: 'user' as const, replica: i + 1 })),
    { service: 'auth', replica: 0 },
    { service: 'messaging', replica: 0 },
  ];
  // Containers find each other by container name (Docker's DNS on a user network). No aliases: with
  // aliases testcontainers attaches the container to Docker's default bridge too, and a second interface
  // would split its traffic between two networks.
  const nameOf = (service: ServiceName, replica: number): string =>
    `${w.runId}-${service}${replica > 0 ? `-${replica}` : ''}`;
  const common = {
    DATABASE_URL: `postgres://nova:nova@${w.runId}-postgres:5432/postgres`,
    USER_SERVICE_URLS: plan
      .filter((p) => p.service === 'user')
      .map((p) => `http://${nameOf('user', p.replica)}:${PORT}`)
      .join(','),
    AUTH_SERVICE_URLS: `http://${nameOf('auth', 0)}:${PORT}`,
    JWT_SECRET: randomBytes(24).toString('hex'),
    // info: the wait strategy reads fastify's "Server listening at" (there is no shell in the image to probe a port).
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_MS: '5000',
    CHAOS_AGENT_ADDR: w.agentAddress,
    CHAOS_NAMESPACE: 'default',
    DATA_DIR: '/var/lib/nova',
  };
  // allSettled, not all: when one start fails, the others must have finished starting (and be recorded in
  // `started`) before stop() removes them, or a late one would be left running.
  const settled = await Promise.allSettled(
    plan.map(async ({ service, replica }): Promise<Replica> => {
      const name = `${service}-service${replica > 0 ? `-${replica}` : ''}`;
      const containerName = nameOf(service, replica);
      const chaosLabels = { tier: 'backend', [TARGET_LABELS.safe]: 'true', [TARGET_LABELS.container]: containerName };
      const container = await serviceContainer(w, service)
        .withName(containerName)
        .withNetwork(w.network)
        .withLabels({ ...w.labels, [LABELS.target]: 'true', 'app.kubernetes.io/name': `${service}-service` })
        .withEnvironment({
          ...common,
          OTEL_SERVICE_NAME: `${service}-service`,
          CHAOS_LABELS: Object.entries(chaosLabels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
          // The only identity this container may register as: what we started it as.
          CHAOS_AGENT_TOKEN: mintIdentityToken(w.serviceToken, {
            name: `${service}-service`,
            namespace: 'default',
            labels: { app: `${service}-service`, ...chaosLabels },
          }),
        })
        // The data volume (an emptyDir in k8s), writable by the service's user.
        .withTmpFs({ '/var/lib/nova': 'rw,uid=1000,gid=1000,size=64m' })
        .withWaitStrategy(Wait.forLogMessage(/Server listening at/))
        .withStartupTimeout(60_000)
        .start();
      started.push(container);
      const ip = container.getIpAddress(w.network.getName());
      return {
        service,
        name,
        container,
        containerName,
        url: `http://${ip}:${PORT}`,
        running: true,
        pid: undefined,
        restarts: 0,
      };
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<Replica>).value);
}

/**
 * A service's container before its per-replica settings: its image, or (workspace mounted) the node base
 * with the workspace read-only at `/app` and what the service's Dockerfile would have set.
 */
function serviceContainer(w: RunWiring, service: ServiceName): GenericContainer {
  if (w.workspace === 'images') return new GenericContainer(w.names[service]);
  return new GenericContainer(w.names.nodeBase)
    .withBindMounts([{ source: WORKSPACE_ROOT, target: '/app', mode: 'ro' }])
    .withWorkingDir('/app')
    .withUser(`${SERVICE_UID}:${SERVICE_UID}`)
    .withEnvironment({ NODE_ENV: 'production', HOST: '0.0.0.0', PORT: String(PORT) })
    .withCommand(serviceCommand(service));
}
