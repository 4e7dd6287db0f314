import { UnsupportedLocallyError, ms, type PlanContext } from './context.ts';

/** Chaos Mesh's IOChaos methods and the fs calls the in-process IO faults patch for each. */
const IO_METHODS: Record<string, string> = {
  read: 'read',
  write: 'write',
  open: 'open',
  create: 'open',
  getattr: 'getattr',
  readdir: 'readdir',
  opendir: 'readdir',
  unlink: 'unlink',
  rmdir: 'unlink',
  mkdir: 'mkdir',
  rename: 'rename',
};

/**
 * IOChaos latency and fault: in-process, on the fs calls a service makes under its data volume
 * (`volumePath` is /var/lib/nova in k8s; locally it is the replica's DATA_DIR).
 */
export function planIo({ spec, selected, each, dataDirOf }: PlanContext): void {
  const action = String(spec['action']);
  if (action !== 'latency' && action !== 'fault')
    throw new UnsupportedLocallyError(`IOChaos ${action}: only latency and fault are implemented in-process`);
  const methods = ((spec['methods'] as string[] | undefined) ?? []).map((m) => {
    const mapped = IO_METHODS[m];
    if (!mapped)
      throw new UnsupportedLocallyError(
        `IOChaos method ${m}: in-process IO faults cover ${Object.keys(IO_METHODS).join(', ')}`,
      );
    return mapped;
  });
  const volume = String(spec['volumePath']).replace(/\/+$/, '');
  const pattern = String(spec['path'] ?? `${volume}/**`);
  for (const target of selected) {
    const dataDir = dataDirOf(target);
    if (!dataDir) throw new UnsupportedLocallyError(`IOChaos: ${target.name} has no data volume in this environment`);
    const path = pattern.startsWith(volume) ? dataDir + pattern.slice(volume.length) : pattern;
    const base = {
      path,
      percent: Number(spec['percent'] ?? 100),
      ...(methods.length ? { methods: [...new Set(methods)] } : {}),
    };
    if (action === 'latency') each('io-delay', { ...base, latencyMs: ms(spec['delay']) }, [target]);
    else each('io-fault', { ...base, errno: Number(spec['errno']) }, [target]);
  }
}
