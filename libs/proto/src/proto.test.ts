import { describe, expect, it } from 'vitest';
import { bearer, ChaosAgentService, createAgentClient, grpc, unary } from './index.ts';

describe('agent proto', () => {
  it('defines the agent API: Register, ListTargets, ListKinds, ApplyFault, RecoverFault, ListFaults, Watch', () => {
    expect(Object.keys(ChaosAgentService).sort()).toEqual([
      'ApplyFault',
      'ListFaults',
      'ListKinds',
      'ListTargets',
      'RecoverFault',
      'Register',
      'Watch',
    ]);
    expect(ChaosAgentService['Register']!.requestStream && ChaosAgentService['Register']!.responseStream).toBe(true);
    expect(ChaosAgentService['Watch']!.responseStream).toBe(true);
  });

  it('carries the bearer token and fails a call to a dead address within its deadline', async () => {
    expect(bearer('abc').get('authorization')).toEqual(['Bearer abc']);
    const client = createAgentClient('127.0.0.1:1');
    const t = Date.now();
    const err = (await unary(client.listTargets.bind(client), {}, bearer('x'), 500).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(err.code);
    expect(Date.now() - t).toBeLessThan(3000);
    client.close();
  });
});
