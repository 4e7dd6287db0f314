import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, createAgentClient, grpc, unary } from '@nova/proto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToChaosAgent, createServiceApp } from '@nova/service-kit';
import { until } from '../test/helpers.ts';
import { startAgent, type RunningAgent } from './server.ts';

const TOKEN = 'tls-token-0123456789abcdef';

/** A throwaway CA, a server certificate for `san` (127.0.0.1) and a client certificate, made with openssl. */
function certificates(
  san = 'IP:127.0.0.1',
): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCa', Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'nova-tls-'));
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  for (const ca of ['ca', 'other']) {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${ca}-test-ca`,
    );
  }
  writeFileSync(join(dir, 'san.cnf'), `subjectAltName=${san}\n`);
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.crt`,
      '-days',
      '1',
      '-extfile',
      'san.cnf',
    );
  }
  const r = (f: string): Buffer => readFileSync(join(dir, f));
  return {
    ca: r('ca.crt'),
    serverCert: r('server.crt'),
    serverKey: r('server.key'),
    clientCert: r('client.crt'),
    clientKey: r('client.key'),
    otherCa: r('other.crt'),
  };
}

describe('chaos-agent over mTLS', () => {
  let certs: ReturnType<typeof certificates>;
  let agent: RunningAgent;
  beforeAll(async () => {
    certs = certificates();
    agent = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
      logger: pino({ level: 'silent' }),
    });
  }, 30_000);
  afterAll(async () => {
    await agent?.close();
  });

  it('serves a client with a certificate signed by the CA and the token', async () => {
    const client = createAgentClient(agent.address, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    expect(await unary(client.listTargets.bind(client), {}, bearer(TOKEN))).toEqual({ targets: [] });
    client.close();
  });

  it('refuses a client without a certificate, and one that does not trust the server', async () => {
    const noCert = createAgentClient(agent.address, { ca: certs.ca });
    const err = (await unary(noCert.listTargets.bind(noCert), {}, bearer(TOKEN), 3000).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(err.code);
    noCert.close();
    const distrustful = createAgentClient(agent.address, {
      ca: certs.otherCa,
      cert: certs.clientCert,
      key: certs.clientKey,
    });
    const err2 = (await unary(distrustful.listTargets.bind(distrustful), {}, bearer(TOKEN), 3000).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(err2.code);
    distrustful.close();
    const plain = createAgentClient(agent.address);
    const err3 = (await unary(plain.listTargets.bind(plain), {}, bearer(TOKEN), 3000).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(err3.code);
    plain.close();
  });

  it('still requires the token over TLS', async () => {
    const client = createAgentClient(agent.address, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    const err = (await unary(client.listTargets.bind(client), {}, bearer('not-the-token-at-all'), 3000).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    client.close();
  });
});

describe('a service over TLS, checking the agent by name (as in Kubernetes)', () => {
  // Services dial their node's IP, which no certificate made before the cluster can name: the agent's
  // certificate names `chaos-agent`, and the service checks that name (CHAOS_AGENT_SERVER_NAME).
  let certs: ReturnType<typeof certificates>;
  let agent: RunningAgent;
  let caFile: string;
  beforeAll(async () => {
    certs = certificates('DNS:chaos-agent');
    caFile = join(mkdtempSync(join(tmpdir(), 'nova-tls-ca-')), 'ca.crt');
    writeFileSync(caFile, certs.ca);
    agent = await startAgent({
      listen: '127.0.0.1:0',
      token: TOKEN,
      tls: { cert: certs.serverCert, key: certs.serverKey },
      logger: pino({ level: 'silent' }),
    });
  }, 30_000);
  afterAll(async () => {
    await agent?.close();
  });

  async function register(name: string, env: Record<string, string>): Promise<() => Promise<void>> {
    const app = createServiceApp({ name, telemetry: false, logger: pino({ level: 'silent' }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const connection = connectToChaosAgent(app, {
      CHAOS_AGENT_ADDR: agent.address,
      CHAOS_AGENT_TOKEN: TOKEN,
      CHAOS_AGENT_CA_FILE: caFile,
      ...env,
    });
    return async () => {
      await connection?.stop();
      await app.close();
    };
  }

  it('registers with CHAOS_AGENT_CA_FILE: the certificate names chaos-agent, not the address dialled', async () => {
    const stop = await register('tls-svc', {});
    try {
      await until(() => agent.targets.list().some((t) => t.name === 'tls-svc'), 10_000, 'registration over TLS');
    } finally {
      await stop();
    }
  });

  it('does not register when the certificate does not carry the name it expects', async () => {
    const stop = await register('wary-svc', { CHAOS_AGENT_SERVER_NAME: 'someone-else' });
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      expect(agent.targets.list().map((t) => t.name)).not.toContain('wary-svc');
    } finally {
      await stop();
    }
  });
});
