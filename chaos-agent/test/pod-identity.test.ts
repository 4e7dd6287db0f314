import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { bearer, createAgentClient, grpc } from '@nova/proto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectContainer } from '../src/drivers/container.ts';
import { peerProcess, podUidOf } from '../src/pod-identity.ts';
import { startAgent } from '../src/server.ts';
import { dockerAvailable, goTestImage } from './go-image.ts';
import { TOKEN } from './helpers.ts';

// In Kubernetes the agent (hostPID) finds a service's process from its connection, in the service's own
// network namespace, and requires it to run in a pod. Here: the cgroup parsing on the kubelet's real layouts,
// the cross-namespace lookup on a real container holding a TCP connection to us, and the refusal of a caller
// that is not in a pod.

const UID = '6f5a7f2e-3c1b-4d2a-9b8e-0a1b2c3d4e5f';

describe('podUidOf: the pod a process runs in, from its cgroup', () => {
  it.each([
    [
      'cgroup v1, cgroupfs driver',
      `12:pids:/kubepods/burstable/pod${UID}/0123abcd\n11:cpu:/kubepods/burstable/pod${UID}/0123abcd\n`,
    ],
    ['cgroup v1, guaranteed QoS', `4:memory:/kubepods/pod${UID}/0123abcd\n`],
    [
      'cgroup v2, systemd driver',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-0123abcd.scope\n`,
    ],
    [
      'cgroup v2, besteffort',
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-0123abcd.scope\n`,
    ],
  ])('%s', (_layout, cgroup) => {
    expect(podUidOf(cgroup)).toBe(UID);
  });

  it('finds no pod for a Docker container, a systemd service or a shell', () => {
    expect(podUidOf('0::/system.slice/docker-0123abcd.scope\n')).toBeUndefined();
    expect(podUidOf('12:pids:/docker/0123abcd\n')).toBeUndefined();
    expect(podUidOf('0::/system.slice/ssh.service\n')).toBeUndefined();
    expect(podUidOf(`0::/user.slice/pod${UID}\n`)).toBeUndefined();
  });
});

// On a machine that is itself a pod, this process would be a pod's: the refusal below could not be seen.
const selfInPod = podUidOf(readFileSync('/proc/self/cgroup', 'utf8')) !== undefined;

describe.skipIf(selfInPod)('an agent run with --peer-identity=pod', () => {
  it('refuses a caller whose process is not in a pod, naming why', async () => {
    const agent = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      peerIdentity: 'pod',
      // Never asked: the caller is refused before its pod is looked up.
      pods: { pod: () => Promise.reject(new Error('asked about a caller that is not in a pod')) },
      logger: pino({ level: 'silent' }),
    });
    const client = createAgentClient(agent.address);
    try {
      const call = client.register(bearer(TOKEN));
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      call.write({ hello: { name: 'user-service', namespace: 'default', labels: {}, pid: process.pid, ports: [] } });
      const error = await ended;
      expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error.details).toMatch(/^Hello refused: the connection from .* does not come from a pod on this node/);
      expect(agent.targets.list()).toEqual([]);
    } finally {
      client.close();
      await agent.close();
    }
  });
});

const hasDocker = dockerAvailable('pod-identity');
const exec = promisify(execFile);
const docker = async (...args: string[]): Promise<string> => (await exec('docker', args)).stdout.trim();

describe.skipIf(!hasDocker)('peerProcess: the process behind a connection from another network namespace', () => {
  const network = `nova-peer-${randomBytes(3).toString('hex')}`;
  const name = `${network}-caller`;
  let image: Awaited<ReturnType<typeof goTestImage>>;
  let server: Server;
  let port: number;
  let gateway: string;
  beforeAll(async () => {
    image = await goTestImage();
    await docker('network', 'create', network);
    gateway = JSON.parse(await docker('network', 'inspect', network, '--format', '{{json .IPAM.Config}}'))[0].Gateway;
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as { port: number }).port;
  }, 120_000);
  afterAll(async () => {
    await docker('rm', '-f', name).catch(() => '');
    await docker('network', 'rm', network).catch(() => '');
    await image?.remove();
    server?.close();
  }, 60_000);

  it('finds the container process holding a connection to us: host pid, pid 1 in its namespace, its cgroup', async () => {
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    await docker('run', '-d', '--name', name, '--network', network, '-e', `HOLD=${gateway}:${port}`, image.image);
    const socket = await accepted;
    const found = await peerProcess(`${socket.remoteAddress}:${socket.remotePort}`, port);
    const info = await inspectContainer(name);
    expect(found).toMatchObject({ pid: info.pid, nsPid: 1 });
    expect(found!.cgroup).toContain(info.id);
    // A Docker container is not a pod: an agent in pod mode would refuse it.
    expect(podUidOf(found!.cgroup)).toBeUndefined();
    // Another port of the same address is held by no one.
    expect(await peerProcess(`${socket.remoteAddress}:${socket.remotePort === 1 ? 2 : 1}`, port)).toBeUndefined();
    socket.destroy();
  });
});
