/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) that self time needs. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    /** Node ids of the functions this one called (V8 writes them; absent: none). */
    children?: number[];
  }>;
  /** Node id of each sample. */
  samples: number[];
  /** Microseconds since the previous sample, per sample. */
  timeDeltas: number[];
  /** When profiling began and ended, in µs on V8's clock. */
  startTime: number;
  endTime: number;
}

/** One row of {@link topFrames}. */
export interface FrameTime {
  name: string;
  /** Script and line, shortened to the package or workspace path. */
  where: string;
  /** Self time, in ms. */
  selfMs: number;
}

/** Where a script comes from: `fastify`, `@opentelemetry/api`, `libs/telemetry`, `node:internal`, `(v8)`. */
export function packageOf(url: string): string {
  if (!url) return '(v8)';
  if (url.startsWith('node:')) return url.replace(/:\d+$/, '');
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(
    url.split('node_modules/').length > 2 ? `node_modules/${url.split('node_modules/').at(-1)}` : url,
  );
  if (nm) return nm[1]!;
  const ws = /\/((?:libs|services|tools|chaos-agent)\/[^/]+)/.exec(url);
  return ws ? ws[1]! : url;
}

/** Which samples {@link timeInside} counts, decided by the first frame it names on the way up from the leaf. */
export type Classify = (url: string, functionName: string) => 'ours' | 'theirs' | undefined;

/** Whether a sample, taken at `at` µs on the profile's clock, is inside `window` (µs before the end). */
function inWindow(profile: CpuProfile, at: number, window?: { fromEndUs: number; toEndUs: number }): boolean {
  return !window || (at >= profile.endTime - window.fromEndUs && at <= profile.endTime - window.toEndUs);
}

/**
 * Inclusive time (ms) inside some code: a sample counts when, walking its stack up from the leaf, the first
 * frame `classify` names is `'ours'`. A frame named `'theirs'` first stops the walk: code ours calls that would
 * run without it too (e.g. the request logger a wrapper of ours makes) is not charged to it. Self time alone
 * would miss what our code costs in the functions it calls (a Buffer's hex string, a Map's rehash).
 */
export function timeInside(
  profile: CpuProfile,
  classify: Classify,
  window?: { fromEndUs: number; toEndUs: number },
): number {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const verdict = new Map<number, boolean>();
  const counts = (id: number): boolean => {
    const known = verdict.get(id);
    if (known !== undefined) return known;
    const frame = byId.get(id);
    const said = frame ? classify(frame.url, frame.functionName) : undefined;
    const up = parent.get(id);
    const result = said === undefined ? up !== undefined && counts(up) : said === 'ours';
    verdict.set(id, result);
    return result;
  };
  let ms = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (inWindow(profile, at, window) && counts(id)) ms += (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return ms;
}

/**
 * Self time per function (summed over its call sites) and per package, most first. `(idle)` and
 * `(program)` are V8's own buckets; idle time is reported apart so shares are of busy time. With `window`
 * (µs before the profile's end, e.g. the load phase), samples outside it are left out.
 */
export function topFrames(
  profile: CpuProfile,
  top: number,
  window?: { fromEndUs: number; toEndUs: number },
): { totalMs: number; idleMs: number; frames: FrameTime[]; packages: Array<{ name: string; selfMs: number }> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const frames = new Map<string, FrameTime>();
  const packages = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (!inWindow(profile, at, window)) return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const frame = byId.get(id);
    if (!frame) return;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      return;
    }
    const pkg = packageOf(frame.url);
    const where = frame.url ? `${pkg}${frame.url.slice(frame.url.lastIndexOf('/'))}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const row = frames.get(key) ?? { name: frame.functionName || '(anonymous)', where, selfMs: 0 };
    row.selfMs += ms;
    frames.set(key, row);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
  });
  return {
    totalMs,
    idleMs,
    frames: [...frames.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    packages: [...packages.entries()].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
