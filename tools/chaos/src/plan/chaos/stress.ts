import { parseMemorySize } from '@nova/chaos-spec';
import { UnsupportedLocallyError, type Obj, type PlanContext } from './context.ts';

/**
 * StressChaos: CPU stressors become worker threads in the service (local) or a lowered container CPU limit
 * (containers); memory stressors hold the asked bytes in the service.
 */
export function planStress({ spec, layer, each, note }: PlanContext): void {
  if (spec['stressngStressors'])
    throw new UnsupportedLocallyError(
      'StressChaos stressngStressors: raw stress-ng arguments need stress-ng in the target (containers/k8s); use stressors',
    );
  const stressors = spec['stressors'] as Obj;
  const cpu = stressors['cpu'] as Obj | undefined;
  const mem = stressors['memory'] as Obj | undefined;
  if (cpu) {
    const load = { workers: Number(cpu['workers'] ?? 1), load: Number(cpu['load'] ?? 100) };
    if (layer?.layer === 'container') {
      each('container-stress', load);
      note('StressChaos cpu: the container CPU limit is lowered by workers × load % (docker update) for the duration');
    } else each('cpu-stress', load);
  }
  if (mem) {
    const size = parseMemorySize(String(mem['size'] || '256MB'));
    if (!size.ok) throw new UnsupportedLocallyError(`StressChaos memory size ${size.reason}`);
    if ('percent' in size.value)
      throw new UnsupportedLocallyError(
        'StressChaos memory size as a percentage needs a container memory limit (containers/k8s); give a size such as 256MB',
      );
    // Bytes as Chaos Mesh counts them (decimal units: 256MB = 256 000 000).
    each('memory-stress', { size: size.value.bytes });
  }
}
