import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { conformanceCases, type Probe } from '../../test/conformance-cases.ts';
import { agentDrivers, type AgentDrivers } from './index.ts';
import { alive, processState } from './process.ts';

/**
 * The conformance cases (test/conformance-cases.ts) for every driver an agent registers without Docker: the
 * process layer, on a child process of this test. The container and kernel layers run the same cases on
 * containers in test/docker-conformance.test.ts.
 */
const PROBES: Record<string, Probe<number>> = {
  'process-kill': {
    spec: { signal: 'SIGKILL' },
    active: (pid) => !alive(pid),
    reverted: (pid) => !alive(pid),
    oneShot: true,
  },
  'process-failure': {
    spec: {},
    active: (pid) => processState(pid) === 'T',
    reverted: (pid) => processState(pid) !== 'T',
    oneShot: false,
  },
};

let stateDir: string;
let registered: AgentDrivers;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'nova-conformance-'));
  registered = await agentDrivers({ stateDir, log: pino({ level: 'silent' }) });
});

afterEach(() => {
  // Only the processes this test started, by pid; a stopped one is resumed so SIGKILL ends it.
  for (const c of children.splice(0)) {
    if (c.pid !== undefined && alive(c.pid)) {
      process.kill(c.pid, 'SIGCONT');
      c.kill('SIGKILL');
    }
  }
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('driver conformance: process layer', () => {
  conformanceCases<number>(
    {
      registered: () => registered,
      applyMs: 2_000,
      async subject() {
        const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
        children.push(child);
        const pid = child.pid!;
        return {
          handle: pid,
          hello: { name: 'svc', labels: {}, pid },
          peer: '127.0.0.1:1',
          verifiedPid: pid,
          async vanish() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGKILL');
            await exited;
          },
        };
      },
    },
    PROBES,
  );
});
