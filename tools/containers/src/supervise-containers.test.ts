import { request } from 'undici';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, requireDocker } from './docker.ts';
import { buildImages, type ImageNames } from './images.ts';
import { readdress } from './supervise-containers.ts';

// Real Docker, with the locally built node base (no pulls). Without a Docker engine this fails with how to get one.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
let names: ImageNames;
let network: StartedNetwork | undefined;
const started: StartedTestContainer[] = [];

beforeAll(async () => {
  await requireDocker();
  names = await buildImages({ services: false });
  network = await new Network().start();
}, 900_000);

afterAll(async () => {
  for (const c of started) await c.stop({ timeout: 1_000 }).catch(() => undefined);
  await network?.stop();
});

/** A container on the test network that answers every HTTP request on port 3000 with `who`. */
async function server(who: string): Promise<StartedTestContainer> {
  const c = await new GenericContainer(names.nodeBase)
    .withNetwork(network!)
    .withEnvironment({ WHO: who })
    .withCommand([
      'node',
      '-e',
      "require('http').createServer((q, s) => s.end(process.env.WHO)).listen(3000, () => console.log('up'))",
    ])
    .withWaitStrategy(Wait.forLogMessage('up'))
    .start();
  started.push(c);
  return c;
}

/** Who answers `url` within 2 s, or why nothing did. */
async function whoAnswers(url: string): Promise<string> {
  try {
    const res = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000, signal: AbortSignal.timeout(2_000) });
    return await res.body.text();
  } catch (error) {
    return `no answer (${(error as Error).message})`;
  }
}

describe('a replica container restarted by the supervisor', { retry: 1 }, () => {
  it('is reached at the address Docker gave it this time, not the one it had (now another container’s or no one’s)', async () => {
    const a = await server('a');
    const containerName = a.getName().replace(/^\//, '');
    const replica = { containerName, url: `http://${a.getIpAddress(network!.getName())}:3000` };
    const before = replica.url;
    expect(await whoAnswers(before)).toBe('a');
    // A pod-kill and, while it is down, another container on the network (a fault's helper, say).
    await check('docker', ['kill', containerName]);
    await server('b');
    await check('docker', ['start', containerName]);
    await readdress(replica);
    // What made the stale URL fail: Docker gave the restarted container another address.
    expect(replica.url).not.toBe(before);
    expect(new URL(replica.url).port).toBe('3000');
    await expect.poll(() => whoAnswers(replica.url), { timeout: 20_000, interval: 250 }).toBe('a');
    expect(await whoAnswers(before)).not.toBe('a');
  }, 300_000);
});
