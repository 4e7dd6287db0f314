import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createAgentClient, DOCKER_LABELS } from '@nova/proto';
import {
  awaitRegistrations,
  listKinds,
  listTargets,
  startSupervisedAgent,
  type ChaosEnvironment,
  type LivenessOptions,
  type StackLifecycleEvent,
} from '@nova/stack';
import { Network, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { check, imageExists, requireDocker, run } from './docker.ts';
import { buildImages, type ImageNames } from './images.ts';
import { startPostgres, startServices, type RunWiring } from './run-containers.ts';
import { superviseContainers, waitHealthy, type ContainerSupervision } from './supervise-containers.ts';
import { checkWorkspaceReadable, workspaceMode, type WorkspaceMode } from './workspace.ts';

const LABEL_RUN = DOCKER_LABELS.run;

/**
 * The guard: a detached process tied to us by IPC. If we die without stopping (SIGKILL, crash), it removes
 * this run's containers and network. Plain JavaScript, so it starts in ~50 ms.
 */
const GUARD = `
const { execFileSync } = require('node:child_process');
const [runId] = process.argv.slice(1);
let network;
process.on('message', (m) => { if (m && m.network) network = m.network; });
process.on('SIGTERM', () => process.exit(0));
process.once('disconnect', () => {
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', 'label=${LABEL_RUN}=' + runId]).toString().split('\\n').filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
    if (network) execFileSync('docker', ['network', 'rm', network], { stdio: 'ignore' });
  } catch {}
  process.exit(0);
});`;

/** Docker labels on everything this environment starts (defined in @nova/proto, read by the agent too). */
export const LABELS = DOCKER_LABELS;

/** Options of {@link startContainersEnvironment}. */
export interface ContainersEnvironmentOptions {
  stateDir: string;
  userReplicas?: number;
  images?: ImageNames;
  /** How the services get their code (default: `NOVA_CONTAINERS_WORKSPACE`, else `mount`); see {@link WorkspaceMode}. */
  workspace?: WorkspaceMode;
  onLine?: (source: string, line: string) => void;
  onLifecycle?: (event: StackLifecycleEvent) => void;
  /** How each replica's `/healthz` is probed for liveness (a hung container is stopped and restarted). */
  liveness?: LivenessOptions;
}

/** A running containers environment, plus what its tests look at. */
export interface ContainersEnvironment extends ChaosEnvironment {
  readonly runId: string;
  /** Container name of each replica. */
  containerOf(instance: string): string;
  /** The agent's current process (tests kill it). */
  readonly agentProcess: ChildProcess;
  /** Resolves when the supervised agent is next started again (after it exited unasked). */
  agentRestarted(): Promise<void>;
}

/** Removes the containers and networks of runs whose controller is gone (a SIGKILLed controller's leftovers). */
export async function removeOrphans(): Promise<string[]> {
  const out = await check('docker', [
    'ps',
    '-a',
    '--filter',
    `label=${LABELS.run}`,
    '--format',
    `{{.ID}} {{.Label "${LABELS.controllerPid}"}}`,
  ]);
  const orphans = out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, pid]) => {
      try {
        process.kill(Number(pid), 0);
        return false;
      } catch {
        return true;
      }
    });
  if (orphans.length) await run('docker', ['rm', '-f', ...orphans.map(([id]) => id!)]);
  return orphans.map(([id]) => id!);
}

/**
 * The `containers` environment: PostgreSQL and the services (user-service ×2, auth, messaging) in Docker
 * containers on their own network, started by testcontainers from locally built images; the chaos agent on
 * the host (root, Docker socket, nsenter into the containers' network namespaces), listening on the
 * network's gateway where the services register. A killed or hung container is restarted, as a kubelet would. Every
 * container and the network are removed at the end — by `stop()`, or by a guard process if we die.
 */
export async function startContainersEnvironment(
  options: ContainersEnvironmentOptions,
): Promise<ContainersEnvironment> {
  const workspace = options.workspace ?? workspaceMode();
  const names = await preflight(options, workspace);
  await removeOrphans();
  const runId = `nova-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const labels = { [LABELS.run]: runId, [LABELS.controllerPid]: String(process.pid) };
  const started: StartedTestContainer[] = [];
  let network: StartedNetwork | undefined;
  let agent: Awaited<ReturnType<typeof startSupervisedAgent>> | undefined;
  let client: ReturnType<typeof createAgentClient> | undefined;
  const guard = spawn(process.execPath, ['-e', GUARD, runId], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  guard.channel?.unref();
  guard.unref();
  let stopping = false;
  let supervision: ContainerSupervision | undefined;

  const stop = async (): Promise<void> => {
    stopping = true;
    supervision?.stop();
    // The agent first: it recovers every fault while the containers still exist.
    if (agent) await agent.stop();
    client?.close();
    await Promise.all(started.map((c) => c.stop({ timeout: 5_000, remove: true }).catch(() => undefined)));
    await network?.stop().catch(() => undefined);
    guard.kill('SIGTERM');
  };

  try {
    network = await new Network().start();
    guard.send({ network: network.getId() });
    const gateway = JSON.parse(
      await check('docker', ['network', 'inspect', network.getId(), '--format', '{{json .IPAM.Config}}']),
    )[0]?.Gateway as string;
    if (!gateway) throw new Error(`network ${network.getName()} has no IPv4 gateway`);
    // Two roles, two credentials: the controller's token faults; the services' may only register.
    const token = randomBytes(24).toString('hex');
    const serviceToken = randomBytes(24).toString('hex');
    // Supervised as in the local environment: an agent that exits unasked is started again on its address
    // (the services' control streams find it), and its journal recovers the faults it had left applied.
    agent = await startSupervisedAgent({
      stateDir: options.stateDir,
      token,
      serviceToken,
      listen: `${gateway}:0`,
      docker: true,
      onLine: (l) => options.onLine?.('chaos-agent', l),
      ...(options.onLifecycle ? { onLifecycle: options.onLifecycle } : {}),
    });
    client = createAgentClient(agent.address);
    const wiring: RunWiring = {
      runId,
      network,
      labels,
      names,
      workspace,
      agentAddress: agent.address,
      serviceToken,
    };
    started.push(await startPostgres(wiring));
    const replicas = await startServices(wiring, options.userReplicas ?? 2, started);
    await Promise.all(replicas.map((r) => waitHealthy(`${r.url}/readyz`, 30_000)));
    const targets = listTargets(client, token);
    await awaitRegistrations(targets, replicas.length);
    supervision = superviseContainers(runId, replicas, () => stopping, options.onLifecycle, options.liveness);
    const agentAddress = agent.address;
    // What the agent's drivers offer (netem only where its own probe found the qdisc): asked, not guessed.
    const kinds = await listKinds(client, token);
    return {
      name: 'containers',
      runId,
      agent: { address: agentAddress, token, serviceToken, client },
      instances: replicas,
      urls: (service) => replicas.filter((r) => r.service === service).map((r) => r.url),
      targets,
      // The services see their data volume at DATA_DIR in every container.
      dataDirOf: () => '/var/lib/nova',
      layer: 'container',
      kinds,
      containerOf: (instance) => {
        const r = replicas.find((x) => x.name === instance);
        if (!r) throw new Error(`no instance ${instance}`);
        return r.containerName;
      },
      get agentProcess() {
        return agent!.proc;
      },
      agentRestarted: () => agent!.restarted(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Root, a Docker engine and the run's images on this machine (built unless given: the node base and
 * PostgreSQL, and the services' images unless the workspace is mounted); their names.
 */
async function preflight(options: ContainersEnvironmentOptions, workspace: WorkspaceMode): Promise<ImageNames> {
  process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the containers environment needs root: the agent enters the containers' network namespaces (nsenter) and talks to the Docker socket; run it with sudo",
    );
  }
  await requireDocker();
  mkdirSync(options.stateDir, { recursive: true });
  if (workspace === 'mount') await checkWorkspaceReadable();
  const names =
    options.images ??
    (await buildImages({ services: workspace === 'images', log: (l) => options.onLine?.('images', l) }));
  // No registry is reachable here: a missing image would end in an opaque pull error from the engine.
  const needed =
    workspace === 'mount'
      ? [names.postgres, names.nodeBase]
      : [names.postgres, names.user, names.auth, names.messaging];
  for (const image of needed) {
    if (!(await imageExists(image))) {
      throw new Error(
        `image ${image} is not on this machine and none can be pulled: build the images with \`npx nx images containers\`${image === names.postgres ? ', or set NOVA_POSTGRES_IMAGE to an image you have' : ''}`,
      );
    }
  }
  return names;
}
