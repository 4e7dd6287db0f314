import { postgresAnswers, type LocalPostgres } from '@nova/local-postgres';
import { LivenessProbe, terminateUnresponsive, unresponsiveReason, type LivenessOptions } from './liveness.ts';
import type { StackLifecycleEvent } from './lifecycle.ts';

/**
 * The liveness probe of the embedded PostgreSQL: a new connection must be answered (an SSLRequest, no
 * credentials). A hung postmaster (stopped, blocked) still serves the connections it had, through their
 * backends, but accepts no new one; it is killed ({@link terminateUnresponsive})
 * and its supervisor starts it again on its port with its data. Started by the caller, and again after each
 * restart.
 */
export function postgresLiveness(
  postgres: LocalPostgres,
  options: LivenessOptions,
  onLifecycle: ((event: StackLifecycleEvent) => void) | undefined,
  stopping: () => boolean,
): LivenessProbe {
  return new LivenessProbe(
    {
      check: (timeoutMs) => postgresAnswers(postgres.url, timeoutMs),
      incarnation: () => postgres.pid,
      onUnresponsive: (failures, lastError) => {
        const pid = postgres.pid;
        if (stopping() || pid === undefined) return;
        onLifecycle?.({
          instance: 'postgresql',
          type: 'unresponsive',
          code: null,
          reason: unresponsiveReason('(a new connection)', failures, lastError, `killing pid ${pid}`),
        });
        // The postmaster we started (its PID, from the process handle), while it is still that one.
        terminateUnresponsive((s) => {
          if (postgres.pid !== pid) return;
          try {
            process.kill(pid, s);
          } catch {
            // gone already
          }
        });
      },
    },
    options,
  );
}
