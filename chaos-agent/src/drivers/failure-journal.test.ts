import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { heldStoppedPids } from '@nova/proto';
import { FailureJournal } from './failure-journal.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the failure journal', () => {
  it('is what a supervisor reads to know which PIDs the agent holds stopped, as they are added and removed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nova-journal-'));
    expect(heldStoppedPids(dir)).toEqual(new Set());
    const journal = new FailureJournal(dir);
    // PIDs above the largest pid_max Linux allows (2^22): no process has them, so resuming signals no one.
    const [a, b] = [4_194_305, 4_194_306];
    await journal.add(a);
    await journal.add(b);
    expect(heldStoppedPids(dir)).toEqual(new Set([a, b]));
    await journal.remove(a);
    expect(heldStoppedPids(dir)).toEqual(new Set([b]));
    // Resuming leftovers (a restarted agent) empties it; b is no process, so its SIGCONT fails quietly.
    expect(await journal.resumeLeftovers()).toEqual([b]);
    expect(heldStoppedPids(dir)).toEqual(new Set());
  });

  it('reads as empty for a state directory that does not exist', () => {
    expect(heldStoppedPids(join(tmpdir(), 'nova-no-such-dir', 'x'))).toEqual(new Set());
  });
});
