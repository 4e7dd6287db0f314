import { constants } from 'node:os';
import picomatch from 'picomatch';
import { FaultSpecError } from '../errors.ts';
import { RequestMeter } from '../effect.ts';
import { installIoRule, IO_METHODS, type IoMethod, type IoRule } from '../fs-patch.ts';
import { seededRandom } from '@nova/chaos-spec';
import { SpecReader } from '../spec.ts';
import type { FaultDriver, Injection } from './driver.ts';

interface IoSpec {
  path: string;
  methods: IoMethod[];
  percent: number;
  seed: number | undefined;
}

function readIo(r: SpecReader): IoSpec {
  const methods = (r.strings('methods') ?? [...IO_METHODS]) as IoMethod[];
  for (const m of methods) {
    if (!IO_METHODS.includes(m))
      throw new FaultSpecError(r.kind, 'methods', `has "${m}"; valid methods: ${IO_METHODS.join(', ')}`);
  }
  const seed = r.number('seed', { default: -1, min: -1, integer: true });
  return {
    path: r.string('path'),
    methods,
    percent: r.number('percent', { min: 0, max: 100, default: 100 }),
    seed: seed >= 0 ? seed : undefined,
  };
}

/** Matches fs calls of the spec's methods on its paths (counted as seen by `meter`), then draws the percent. */
function matcher(spec: IoSpec, meter: RequestMeter): (path: string, method: IoMethod) => boolean {
  const isPath = picomatch(spec.path, { dot: true });
  const random = spec.seed === undefined ? Math.random : seededRandom(spec.seed);
  return (path, method) => {
    if (!spec.methods.includes(method) || !isPath(path)) return false;
    meter.seen++;
    const hit = spec.percent >= 100 || random() * 100 < spec.percent;
    meter.decided(hit);
    return hit;
  };
}

/** Installs an IO rule counted by `meter`; the injection reports the meter's effect. */
function ioRule(faultId: string, spec: IoSpec, meter: RequestMeter, effect: ReturnType<IoRule['effect']>): Injection {
  const undo = installIoRule({
    faultId,
    matches: matcher(spec, meter),
    effect: () => {
      meter.affected++;
      return effect;
    },
  });
  return { recover: () => undo.recover(), effect: () => meter.effect() };
}

/** IOChaos latency: fs calls on matching paths take `latencyMs` longer. */
export const ioDelay: FaultDriver<IoSpec & { latencyMs: number }> = {
  kind: 'io-delay',
  seeded: true,
  description: 'delay fs calls (path glob, latencyMs, methods, percent)',
  parse(spec) {
    const r = new SpecReader('io-delay', spec);
    r.only('path', 'latencyMs', 'methods', 'percent', 'seed');
    return { ...readIo(r), latencyMs: r.number('latencyMs', { min: 0, max: 600_000 }) };
  },
  apply(spec, _env, faultId) {
    const meter = new RequestMeter('delayed', 'fs calls');
    return ioRule(faultId, spec, meter, {
      type: 'delay',
      ms: spec.latencyMs,
      applied: (ms: number) => meter.delayed(ms),
    });
  },
};

/** IOChaos fault: fs calls on matching paths fail with an errno (number, like Chaos Mesh, or a name). */
export const ioFault: FaultDriver<IoSpec & { code: string; errno: number }> = {
  kind: 'io-fault',
  seeded: true,
  description: 'fail fs calls with an errno (path glob, errno, methods, percent)',
  parse(spec) {
    const r = new SpecReader('io-fault', spec);
    r.only('path', 'errno', 'methods', 'percent', 'seed');
    const raw = (spec as { errno?: unknown }).errno ?? 5;
    const table = constants.errno as Record<string, number>;
    const code =
      typeof raw === 'number'
        ? Object.keys(table).find((k) => table[k] === raw)
        : typeof raw === 'string' && raw in table
          ? raw
          : undefined;
    if (!code)
      throw new FaultSpecError(
        'io-fault',
        'errno',
        `must be an errno number (5 = EIO) or name (EIO, ENOSPC, EACCES...), got ${JSON.stringify(raw)}`,
      );
    return { ...readIo(r), code, errno: table[code]! };
  },
  apply(spec, _env, faultId) {
    return ioRule(faultId, spec, new RequestMeter(`failed with ${spec.code}`, 'fs calls'), {
      type: 'error',
      code: spec.code,
      errno: spec.errno,
    });
  },
};
