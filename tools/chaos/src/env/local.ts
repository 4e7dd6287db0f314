import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAgentClient } from '@nova/proto';
import {
  AGENT_STOP_GRACE_MS,
  awaitRegistrations,
  listKinds,
  listTargets,
  startStack,
  startSupervisedAgent,
  type ChaosEnvironment,
  type EnvironmentInstance,
  type StackLifecycleEvent,
} from '@nova/stack';

export type { ChaosEnvironment, EnvironmentInstance } from '@nova/stack';

/** Options of {@link startLocalEnvironment}. */
export interface LocalEnvironmentOptions {
  stateDir: string;
  userReplicas?: number;
  onLine?: (source: string, line: string) => void;
  onLifecycle?: (event: StackLifecycleEvent) => void;
  env?: Record<string, string>;
}

/**
 * The `local` environment: embedded PostgreSQL (or `DATABASE_URL`), the chaos agent, and the three services on
 * loopback (user-service with 2 replicas so a kill is survivable), each registered with the agent; the agent and
 * the services are supervised (restarted when they exit unasked, and when their liveness probes fail). Everything is started by us and stopped by
 * us, by PID.
 */
export async function startLocalEnvironment(options: LocalEnvironmentOptions): Promise<ChaosEnvironment> {
  mkdirSync(options.stateDir, { recursive: true });
  // Two roles, two credentials: the controller's token faults; the services' may only register.
  const token = randomBytes(24).toString('hex');
  const serviceToken = randomBytes(24).toString('hex');
  // Supervised like the services: a crashed agent is started again on its address, and everything finds it.
  const agentProc = await startSupervisedAgent({
    stateDir: options.stateDir,
    token,
    serviceToken,
    onLine: (l) => options.onLine?.('chaos-agent', l),
    ...(options.onLifecycle ? { onLifecycle: options.onLifecycle } : {}),
  });
  const client = createAgentClient(agentProc.address);
  let stack;
  try {
    stack = await startStack({
      userReplicas: options.userReplicas ?? 2,
      chaosAgent: { address: agentProc.address, token: serviceToken },
      dataRoot: join(options.stateDir, 'data'),
      supervise: true,
      // A replica the agent holds stopped (process-failure) is the fault, not a hang: liveness leaves it alone.
      liveness: { held: (pid) => agentProc.holdsStopped(pid) },
      onLifecycle: options.onLifecycle,
      env: { LOG_LEVEL: 'error', ...options.env },
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
  } catch (error) {
    await agentProc.stop();
    client.close();
    throw error;
  }
  const targets = listTargets(client, token);
  await awaitRegistrations(targets, stack.instances.length);
  const kinds = await listKinds(client, token);
  const instances: EnvironmentInstance[] = stack.instances.map((i) => ({
    service: i.service,
    name: i.name,
    url: i.url,
    get running() {
      return i.process.running;
    },
    get pid() {
      return i.process.pid;
    },
  }));
  return {
    name: 'local',
    agent: { address: agentProc.address, token, serviceToken, client },
    instances,
    urls: (service) => stack.urls(service),
    targets,
    dataDirOf: (target) => stack.instances.find((i) => i.process.pid === target.pid)?.dataDir,
    layer: 'process',
    kinds,
    stop: async () => {
      await stack.stop();
      const ended = await agentProc.stop();
      client.close();
      // A hung or stopped agent recovered nothing itself; its journal names what it held for the next agent.
      if (ended === 'killed')
        options.onLine?.(
          'chaos-agent',
          `did not exit within ${AGENT_STOP_GRACE_MS / 1000} s of SIGTERM (hung or stopped): SIGKILLed`,
        );
    },
  };
}
