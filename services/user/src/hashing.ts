import { availableParallelism } from 'node:os';
import { bulkhead, type BulkheadPolicy } from '@nova/resilience';
import { hashPassword, verifyPassword } from './password.ts';

/** Options of {@link PasswordHasher}. */
export interface PasswordHasherOptions {
  /** scrypt cost (log2 N). */
  cost: number;
  /** Hashes computed at once. Default {@link defaultHashConcurrency}. */
  concurrency?: number;
  /** Hashes waiting for a slot; beyond it a call fails at once with `BulkheadRejectedError`. Default 256. */
  queue?: number;
}

/**
 * One core fewer than the machine has, at least 1. scrypt runs on libuv's thread pool (4 threads by default)
 * and is CPU-bound: more hashes at once than cores only queue inside the pool, while four CPU-bound threads per
 * process take, under the kernel's per-thread fairness, nearly all of a small machine. Measured on a 2-core VM
 * during a login surge: two user-service replicas hashing 4 at a time left auth-service's event loop about 15 %
 * of a core, and its token checks (which never hash) waited past 5 s; hashing one at a time per replica kept
 * them under 100 ms.
 * @param cores the cores this process may use. Default: `os.availableParallelism()`.
 */
export function defaultHashConcurrency(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}

/**
 * Password hashing and checking (scrypt, see `password.ts`) through a bulkhead: at most `concurrency` hashes
 * run at once, the rest wait their turn in order, and past `queue` waiting a call is refused at once rather
 * than queued without bound.
 */
export class PasswordHasher {
  private readonly slots: BulkheadPolicy;
  private readonly cost: number;

  constructor(options: PasswordHasherOptions) {
    this.cost = options.cost;
    this.slots = bulkhead(options.concurrency ?? defaultHashConcurrency(), options.queue ?? 256, {
      name: 'password-hashing',
    });
  }

  /** Hashes running now. */
  get active(): number {
    return this.slots.active;
  }

  /** Hashes waiting for a slot now. */
  get queued(): number {
    return this.slots.queued;
  }

  /**
   * A new hash of `password` at this hasher's cost. Once `signal` aborts (its caller gone, its deadline
   * passed), a call still waiting for a slot leaves the queue with the signal's reason and is never hashed.
   */
  hash(password: string, signal?: AbortSignal): Promise<string> {
    return this.slots.execute(() => hashPassword(password, this.cost), signal ? { signal } : undefined);
  }

  /** Whether `password` matches `stored` (constant time; false for a malformed hash). `signal`: as for {@link hash}. */
  verify(password: string, stored: string, signal?: AbortSignal): Promise<boolean> {
    return this.slots.execute(() => verifyPassword(password, stored), signal ? { signal } : undefined);
  }
}
