/** What the supervisor saw happen to a replica (or to PostgreSQL, `postgresql`). */
export interface StackLifecycleEvent {
  instance: string;
  /** `unresponsive`: its liveness probes failed; it is being killed, and `exited` and `restarted` follow. */
  type: 'exited' | 'restarted' | 'unresponsive';
  code: number | null;
  /** Why, for `unresponsive`. */
  reason?: string;
}
