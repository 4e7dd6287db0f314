import pg from 'pg';
import { GenericContainer, Network, Wait } from 'testcontainers';
import { beforeAll, describe, expect, it } from 'vitest';
import { check, DOCKER_HELP, requireDocker, run } from './docker.ts';
import { buildImages, contextFingerprint, DEPENDENCIES_REPOSITORY, type ImageNames } from './images.ts';

// Real Docker: the images are built here (the first time ~3 min on 2 cores; later runs skip unchanged ones).
// Without a Docker engine this fails with DOCKER_HELP: how to install and start one.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
let names: ImageNames;

beforeAll(async () => {
  await requireDocker();
  names = await buildImages({ agent: true });
}, 900_000);

describe('requireDocker', () => {
  it('explains how to get a Docker engine when none answers', async () => {
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = 'unix:///nonexistent/docker.sock';
    try {
      await expect(requireDocker()).rejects.toThrow(DOCKER_HELP);
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
  });
});

// Each `docker run` copies the whole image file system first with the vfs storage driver (287 MB for the
// agent): on a loaded shared VM that once took over a minute, so each case has three and runs once more if it
// fails (the failure stays in the output).
describe('locally built images', { retry: 1 }, () => {
  it('the node base runs the host node version and has no shell', async () => {
    expect((await check('docker', ['run', '--rm', names.nodeBase, 'node', '-p', 'process.version'])).trim()).toBe(
      process.version,
    );
    const shell = await run('docker', ['run', '--rm', names.nodeBase, 'sh', '-c', 'true']);
    expect(shell.code).not.toBe(0);
  }, 180_000);

  it('the services are built FROM the base by their Dockerfiles, run as uid 1000 and carry their entry point', async () => {
    const baseId = (await check('docker', ['image', 'inspect', '-f', '{{.Id}}', names.nodeBase])).trim();
    for (const service of ['user', 'auth', 'messaging'] as const) {
      const [image] = JSON.parse(await check('docker', ['image', 'inspect', names[service]])) as Array<{
        Config: { User: string; Cmd: string[] };
        RootFS: { Layers: string[] };
      }>;
      expect(image!.Config.User).toBe('1000');
      expect(image!.Config.Cmd.join(' ')).toContain(`services/${service}/src/main.ts`);
      // Marked with the fingerprint of the context it was built from: the next build is skipped.
      const marker = `${names[service].replace(/:[^:/]*$/, '')}:ctx-${await contextFingerprint(`services/${service}/Dockerfile`, names.nodeBase)}`;
      expect((await check('docker', ['image', 'inspect', '-f', '{{.Id}}', marker])).trim()).toBe(
        (await check('docker', ['image', 'inspect', '-f', '{{.Id}}', names[service]])).trim(),
      );
      const [base] = JSON.parse(await check('docker', ['image', 'inspect', baseId])) as Array<{
        RootFS: { Layers: string[] };
      }>;
      expect(image!.RootFS.Layers.slice(0, base!.RootFS.Layers.length)).toEqual(base!.RootFS.Layers);
    }
  }, 180_000);

  it('a code change costs one small layer: the installed dependencies are a layer of their own under it', async () => {
    for (const image of [names.user, names.agent]) {
      // Newest first: "<bytes> <instruction>" per step.
      const steps = (
        await check('docker', ['history', '--human=false', '--no-trunc', '--format', '{{.Size}} {{.CreatedBy}}', image])
      )
        .trim()
        .split('\n')
        .map((line) => ({ bytes: Number(line.split(' ')[0]), step: line.slice(line.indexOf(' ') + 1) }));
      const copies = steps.filter((s) => /COPY /.test(s.step));
      expect(copies, image).toHaveLength(2);
      const [workspace, dependencies] = copies as [(typeof copies)[0], (typeof copies)[0]];
      expect(dependencies.step).toMatch(/COPY dir:\S+ in \/app\//);
      expect(dependencies.bytes, image).toBeGreaterThan(100e6);
      expect(workspace.bytes, image).toBeLessThan(20e6);
    }
    const tags = (await check('docker', ['images', DEPENDENCIES_REPOSITORY, '--format', '{{.Tag}}']))
      .trim()
      .split('\n');
    expect(tags.filter((t) => t.startsWith('ctx-'))).toHaveLength(1);
  }, 60_000);

  it('the agent image prints its usage', async () => {
    expect(await check('docker', ['run', '--rm', names.agent])).toContain(
      'chaos-agent: the per-node Nova Chaos daemon',
    );
  }, 180_000);

  it('the PostgreSQL image is a real PostgreSQL 17 that accepts the nova user over the network', async () => {
    const network = await new Network().start();
    const container = await new GenericContainer(names.postgres)
      .withNetwork(network)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
      .withStartupTimeout(60_000)
      .start();
    try {
      const client = new pg.Client({
        connectionString: `postgres://nova:nova@${container.getIpAddress(network.getName())}:5432/postgres`,
      });
      await client.connect();
      try {
        const { rows } = await client.query<{ v: string }>('select version() as v');
        expect(rows[0]!.v).toMatch(/^PostgreSQL 17\./);
        await client.query('create table t (x int)');
        await client.query('insert into t values (42)');
        expect((await client.query<{ x: number }>('select x from t')).rows[0]!.x).toBe(42);
      } finally {
        await client.end();
      }
      const wrong = new pg.Client({
        connectionString: `postgres://nova:wrong@${container.getIpAddress(network.getName())}:5432/postgres`,
      });
      await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    } finally {
      await container.stop();
      await network.stop();
    }
  }, 90_000);
});
