/**
 * The environment variable {@link OwnedProcess} sets on a child it gives an IPC channel: the child then knows
 * it has a supervisor, also when that supervisor died before the child could listen to the channel.
 */
export const SUPERVISED_ENV = 'NOVA_SUPERVISOR_PID';

/** Whether a supervisor started us, read once; the variable is ours alone: a process we start must not inherit it. */
const supervised = process.env[SUPERVISED_ENV] !== undefined;
delete process.env[SUPERVISED_ENV];

/**
 * Calls `onGone` once when the supervisor that started us (an {@link OwnedProcess} with `ipc`) is gone, however
 * it died (SIGKILL too): its IPC channel closes. Also when it died before this call, while we were starting (the
 * channel's `disconnect` event then came and went unheard). A no-op for a process nobody supervises.
 */
export function onSupervisorGone(onGone: () => void): void {
  if (!supervised) return;
  if (process.connected) process.once('disconnect', onGone);
  else setImmediate(onGone);
}
