import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { startLocalPostgres, type LocalPostgres } from '@nova/local-postgres';
import { mintIdentityToken, TARGET_LABELS } from '@nova/proto';
import { request } from 'undici';
import { freePorts, waitUntil, type OwnedProcess } from '@nova/process-kit';
import { LivenessProbe, terminateUnresponsive, unresponsiveReason, type LivenessOptions } from './liveness.ts';
import type { StackLifecycleEvent } from './lifecycle.ts';
import { ManagedProcess } from './managed-process.ts';
import { postgresLiveness } from './postgres-liveness.ts';

/** The chaos namespace and labels of every service we start (plus `app=<name>`), bound in its identity token. */
const NAMESPACE = 'default';
const LABELS: Record<string, string> = { tier: 'backend', [TARGET_LABELS.safe]: 'true' };

/** The sample services. */
export type ServiceName = 'user' | 'auth' | 'messaging';

/** One running replica of a service. */
export interface ServiceInstance {
  readonly service: ServiceName;
  readonly replica: number;
  readonly name: string;
  readonly url: string;
  readonly process: ManagedProcess;
  /** The replica's data volume, when the stack has a data root. */
  readonly dataDir: string | undefined;
  /** Times the supervisor restarted it. */
  restarts: number;
  /** Its liveness probe, when the stack is supervised with liveness on. */
  readonly liveness: LivenessProbe | undefined;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Replicas of user-service (so that killing one is survivable). Default 1. */
  userReplicas?: number;
  /** Use this PostgreSQL server instead of an embedded one. Default `DATABASE_URL`. */
  databaseUrl?: string;
  /** Extra environment for every service (e.g. `LOG_LEVEL`, `TELEMETRY=off`). */
  env?: Record<string, string>;
  /** Extra Node.js options for every service, e.g. `['--cpu-prof', '--cpu-prof-dir=/tmp/p']`. */
  nodeArgs?: string[];
  /** Receives every service log line. */
  onLine?: (instance: string, line: string) => void;
  /** Time allowed for the whole stack to become ready, in ms. Default 60 000. */
  readyTimeoutMs?: number;
  /** Register every service with this chaos agent. */
  /**
   * The chaos agent to register with. `token` is the services' token: each service gets an identity token
   * minted with it (its name, namespace and labels), never the token itself.
   */
  chaosAgent?: { address: string; token: string };
  /** Each replica gets `DATA_DIR=<dataRoot>/<service>-<replica>` (its data volume). Default: none. */
  dataRoot?: string;
  /**
   * Restart a replica that exits by itself (killed by a fault, crashed), with backoff from 250 ms to 5 s,
   * as a kubelet would, and the embedded PostgreSQL likewise. Default false.
   */
  supervise?: boolean;
  /**
   * With `supervise`, each replica's `/healthz` is probed as a kubelet's liveness probe would, and a replica
   * that stops answering (hung: a blocked event loop, SIGSTOP) is killed (SIGTERM, then SIGKILL after
   * {@link UNRESPONSIVE_KILL_GRACE_MS}) so that the supervisor starts it again; the embedded PostgreSQL
   * likewise, probed with a new connection. `held` names the PIDs held stopped on purpose (a process-failure
   * fault), which are left alone. Default: on, with the defaults of {@link LivenessOptions}; `false` turns it
   * off.
   */
  liveness?: (LivenessOptions & { held?: (pid: number) => boolean }) | false;
  /** Called when a supervised replica (or PostgreSQL) exits, is declared unresponsive, and is healthy again. */
  onLifecycle?: (event: StackLifecycleEvent) => void;
}

/** The running local stack. */
export interface Stack {
  readonly postgres: LocalPostgres;
  readonly databaseUrl: string;
  readonly instances: readonly ServiceInstance[];
  /** Base URLs of each service's replicas. */
  urls(service: ServiceName): string[];
  /** Starts a stopped replica again and waits until it is healthy. */
  restart(instance: ServiceInstance): Promise<void>;
  /** Stops every service (SIGTERM, then SIGKILL) and PostgreSQL. Idempotent. */
  stop(): Promise<void>;
}

// Through each service package's exports (dependencies in package.json), so Nx sees that the stack runs them.
const entry = (pkg: string): string => createRequire(import.meta.url).resolve(`${pkg}/main`);
const ENTRY: Record<ServiceName, string> = {
  user: entry('@nova/user-service'),
  auth: entry('@nova/auth-service'),
  messaging: entry('@nova/messaging-service'),
};

/** Polls `url` until it answers 200, the process dies, or the time runs out. */
export async function waitUntilHealthy(url: string, proc: OwnedProcess, timeoutMs: number): Promise<void> {
  await waitUntil(
    proc,
    async () => {
      const res = await request(url, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      return res.statusCode === 200;
    },
    timeoutMs,
    `${proc.options.name} healthy at ${url}`,
  );
}

const url = (port: number): string => `http://127.0.0.1:${port}`;

/** The environment every service process gets: the database, where the others listen, secrets, the agent. */
function commonEnv(
  options: StackOptions,
  databaseUrl: string,
  ports: { user: number[]; auth: number[]; messaging: number[] },
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    USER_SERVICE_URLS: ports.user.map(url).join(','),
    AUTH_SERVICE_URLS: url(ports.auth[0]!),
    JWT_SECRET: randomBytes(24).toString('hex'),
    // Production's password hashing cost (14, ~24 ms of a core per login): the login-surge experiment is
    // about what a surge of real logins does, and cheaper hashing would not overload anything.
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '5000',
    ...(options.chaosAgent
      ? {
          CHAOS_AGENT_ADDR: options.chaosAgent.address,
          CHAOS_NAMESPACE: NAMESPACE,
          CHAOS_LABELS: Object.entries(LABELS)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        }
      : {}),
    ...options.env,
  };
}

/** What launching one service process needs of the stack. */
interface LaunchContext {
  options: StackOptions;
  common: Record<string, string>;
  /** How long a (re)started process has to answer its health check, in ms. */
  readyTimeoutMs: number;
  /** The stack is stopping: an exit is then not restarted. */
  stopping: () => boolean;
  /** Every instance launched, for stop(). */
  instances: ServiceInstance[];
}

/**
 * The liveness probe of a supervised replica (none when unsupervised or `liveness: false`): when it declares the
 * replica unresponsive, the replica is ended by signal, not on purpose, so its exit is restarted as a crash's.
 */
function livenessProbe(
  ctx: LaunchContext,
  name: string,
  port: number,
  instance: () => ServiceInstance,
): LivenessProbe | undefined {
  const { supervise, liveness, onLifecycle } = ctx.options;
  if (!supervise || liveness === false) return undefined;
  const { held, ...probeOptions } = liveness ?? {};
  return new LivenessProbe(
    {
      url: `${url(port)}/healthz`,
      incarnation: () => (instance().process.running ? instance().process.pid : undefined),
      ...(held ? { held } : {}),
      onUnresponsive: (failures, lastError) => {
        if (ctx.stopping()) return;
        const proc = instance().process;
        const pid = proc.pid;
        onLifecycle?.({
          instance: name,
          type: 'unresponsive',
          code: null,
          reason: unresponsiveReason('of /healthz', failures, lastError, `killing pid ${pid}`),
        });
        terminateUnresponsive((s) => proc.running && proc.pid === pid && proc.signal(s));
      },
    },
    probeOptions,
  );
}

/**
 * Starts one service process on `port`; with `supervise`, restarts it when it exits unasked, backing off
 * from 250 ms to 5 s (reset once it is healthy again), as a kubelet restarts a pod's container.
 */
function launchService(ctx: LaunchContext, service: ServiceName, replica: number, port: number): ServiceInstance {
  const { options, common, readyTimeoutMs } = ctx;
  const name = `${service}-service${replica > 0 ? `-${replica}` : ''}`;
  const dataDir = options.dataRoot ? `${options.dataRoot}/${service}-${replica}` : undefined;
  let backoff = 250;
  const instance: ServiceInstance = {
    service,
    replica,
    name,
    url: url(port),
    dataDir,
    restarts: 0,
    liveness: livenessProbe(ctx, name, port, () => instance),
    process: new ManagedProcess({
      name,
      entry: ENTRY[service],
      nodeArgs: options.nodeArgs,
      env: {
        ...common,
        PORT: String(port),
        OTEL_SERVICE_NAME: `${service}-service`,
        ...(options.chaosAgent
          ? {
              // The only identity this process may register as: what we started it as.
              CHAOS_AGENT_TOKEN: mintIdentityToken(options.chaosAgent.token, {
                name: `${service}-service`,
                namespace: NAMESPACE,
                labels: { app: `${service}-service`, ...LABELS },
              }),
            }
          : {}),
        ...(dataDir ? { DATA_DIR: dataDir } : {}),
      },
      onLine: (line) => options.onLine?.(name, line),
      onExit: (code) => {
        instance.liveness?.stop();
        if (ctx.stopping() || !options.supervise || instance.process.stoppedOnPurpose) return;
        options.onLifecycle?.({ instance: name, type: 'exited', code });
        const delay = backoff;
        backoff = Math.min(5_000, backoff * 2);
        setTimeout(() => {
          if (ctx.stopping() || instance.process.running) return;
          instance.restarts++;
          instance.process.start();
          waitUntilHealthy(`${instance.url}/healthz`, instance.process, readyTimeoutMs).then(
            () => {
              backoff = 250;
              instance.liveness?.start();
              options.onLifecycle?.({ instance: name, type: 'restarted', code });
            },
            () => undefined,
          );
        }, delay).unref();
      },
    }),
  };
  instance.process.start();
  ctx.instances.push(instance);
  return instance;
}

/**
 * Starts PostgreSQL (embedded unless `DATABASE_URL`) and the three services as supervised child processes on
 * loopback ports, waits until each is healthy, and returns their URLs. On any failure everything started
 * so far is stopped before the error is thrown.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let stopping = false;
  let pgLiveness: LivenessProbe | undefined;
  // Supervised with the services: a database killed (or hung) mid-run comes back on its port with its data.
  const postgres = await startLocalPostgres({
    databaseUrl: options.databaseUrl,
    ...(options.supervise
      ? {
          supervise: (e) => {
            if (e.type === 'exited') pgLiveness?.stop();
            else pgLiveness?.start();
            options.onLifecycle?.(e);
          },
        }
      : {}),
  });
  // Only a server we started is ours to probe and kill (not one at DATABASE_URL).
  if (options.supervise && options.liveness !== false && postgres.embedded) {
    const { held: _held, ...probeOptions } = options.liveness ?? {};
    pgLiveness = postgresLiveness(postgres, probeOptions, options.onLifecycle, () => stopping);
    pgLiveness.start();
  }
  const instances: ServiceInstance[] = [];
  const stop = async (): Promise<void> => {
    stopping = true;
    pgLiveness?.stop();
    for (const i of instances) i.liveness?.stop();
    await Promise.all(instances.map((i) => i.process.stop('SIGTERM', 5_000)));
    await postgres.stop();
  };
  try {
    const databaseUrl = postgres.embedded ? await postgres.createDatabase('nova') : postgres.url;
    // In one call: ports taken one after another can repeat, and a repeat leaves a service unable to bind.
    const replicas = options.userReplicas ?? 1;
    const taken = await freePorts(replicas + 2);
    const ports = { user: taken.slice(0, replicas), auth: [taken[replicas]!], messaging: [taken[replicas + 1]!] };
    const common = commonEnv(options, databaseUrl, ports);
    const launch = (service: ServiceName, replica: number, port: number): ServiceInstance =>
      launchService({ options, common, readyTimeoutMs, stopping: () => stopping, instances }, service, replica, port);
    // user-service first (it owns the users schema and the others call it), then the rest.
    const users = ports.user.map((p, i) => launch('user', i, p));
    await Promise.all(users.map((i) => waitUntilHealthy(`${i.url}/readyz`, i.process, readyTimeoutMs)));
    const rest = [launch('auth', 0, ports.auth[0]!), launch('messaging', 0, ports.messaging[0]!)];
    await Promise.all(rest.map((i) => waitUntilHealthy(`${i.url}/readyz`, i.process, readyTimeoutMs)));
    for (const i of instances) i.liveness?.start();
    let stopped = false;
    return {
      postgres,
      databaseUrl,
      instances,
      urls: (service) => instances.filter((i) => i.service === service).map((i) => i.url),
      restart: async (instance) => {
        instance.process.start();
        await waitUntilHealthy(`${instance.url}/healthz`, instance.process, readyTimeoutMs);
        instance.liveness?.start();
      },
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
