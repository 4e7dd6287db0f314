import { BulkheadRejectedError } from '@nova/resilience';
import { describe, expect, it } from 'vitest';
import { defaultHashConcurrency, PasswordHasher } from './hashing.ts';
import { hashPassword } from './password.ts';

describe('PasswordHasher', () => {
  it('runs at most `concurrency` hashes at once, queues the next in order and refuses past the queue', async () => {
    const stored = await hashPassword('password1', 12);
    const hasher = new PasswordHasher({ cost: 12, concurrency: 1, queue: 2 });
    const finished: number[] = [];
    const calls = [0, 1, 2].map((i) =>
      hasher.verify(i === 1 ? 'wrong' : 'password1', stored).then((ok) => (finished.push(i), ok)),
    );
    expect([hasher.active, hasher.queued]).toEqual([1, 2]);
    await expect(hasher.verify('password1', stored)).rejects.toBeInstanceOf(BulkheadRejectedError);
    expect(await Promise.all(calls)).toEqual([true, false, true]);
    expect(finished).toEqual([0, 1, 2]);
    expect([hasher.active, hasher.queued]).toEqual([0, 0]);
  });

  it('runs `concurrency` hashes side by side, and its hashes verify', async () => {
    const hasher = new PasswordHasher({ cost: 10, concurrency: 2, queue: 0 });
    const calls = [hasher.hash('a-password'), hasher.hash('b-password')];
    expect([hasher.active, hasher.queued]).toEqual([2, 0]);
    await expect(hasher.hash('c-password')).rejects.toBeInstanceOf(BulkheadRejectedError);
    const [a, b] = await Promise.all(calls);
    expect(a).toMatch(/^scrypt\$10\$/);
    expect(await hasher.verify('a-password', a!)).toBe(true);
    expect(await hasher.verify('a-password', b!)).toBe(false);
  });

  it('lets a queued call whose caller gave up leave the queue at once, never hashing it', async () => {
    const stored = await hashPassword('password1', 12);
    const hasher = new PasswordHasher({ cost: 12, concurrency: 1, queue: 2 });
    const first = hasher.verify('password1', stored);
    const gone = new AbortController();
    const abandoned = hasher.verify('password1', stored, gone.signal).catch((e: unknown) => e);
    expect([hasher.active, hasher.queued]).toEqual([1, 1]);
    const reason = new Error('the client closed the connection');
    gone.abort(reason);
    expect(hasher.queued).toBe(0);
    expect(await abandoned).toBe(reason);
    expect(await first).toBe(true);
    // Had the abandoned call kept its place, it would hold the slot now.
    expect([hasher.active, hasher.queued]).toEqual([0, 0]);
    // A signal that never aborts changes nothing.
    expect(await hasher.verify('password1', stored, new AbortController().signal)).toBe(true);
  });

  it('leaves a core to the rest of the machine by default', () => {
    expect([1, 2, 4, 16].map((cores) => defaultHashConcurrency(cores))).toEqual([1, 1, 3, 15]);
  });
});
