// k6 helper: start and stop a fault through the Nova Chaos controller's REST API (no custom k6 build).
// The fault carries a lease, so a k6 run killed with SIGKILL (which skips teardown) leaves nothing behind.
import http from 'k6/http';

/** The controller's API and token, from the environment: CHAOS_API, CHAOS_API_TOKEN. */
function api(): { base: string; headers: Record<string, string> } {
  const base = __ENV['CHAOS_API'];
  const token = __ENV['CHAOS_API_TOKEN'];
  if (!base || !token)
    throw new Error('set CHAOS_API and CHAOS_API_TOKEN (chaos up prints them; .chaos/up.json has them)');
  return {
    base,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-chaos-actor': 'k6' },
  };
}

/** What to start: an experiment of the suite by name, or one Chaos Mesh object as YAML. */
export interface FaultRequest {
  name?: string;
  yaml?: string;
  /** Start it this many seconds from now (e.g. after a baseline). */
  startInSeconds?: number;
}

/** Starts a fault; returns its id. Call from setup() and pass the id to teardown(). */
export function startFault(request: FaultRequest): string {
  const { base, headers } = api();
  const res = http.post(`${base}/api/v1/experiments`, JSON.stringify(request), {
    headers,
    tags: { name: 'chaos-api' },
  });
  if (res.status !== 201) throw new Error(`starting the fault failed: HTTP ${res.status} ${String(res.body)}`);
  return (res.json() as { id: string }).id;
}

/** Stops a fault (idempotent). Call from teardown(). */
export function stopFault(id: string): void {
  const { base, headers } = api();
  const res = http.del(`${base}/api/v1/experiments/${id}`, null, { headers, tags: { name: 'chaos-api' } });
  if (res.status !== 200) console.error(`stopping fault ${id}: HTTP ${res.status} ${String(res.body)}`);
}
