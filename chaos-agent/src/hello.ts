import type { Hello } from '@nova/proto';

/** Bounds of what a service may say about itself when it registers (Kubernetes' own label limits). */
export const HELLO_LIMITS = {
  nameLength: 253,
  namespaceLength: 63,
  labels: 64,
  labelKeyLength: 317,
  labelValueLength: 63,
  ports: 16,
} as const;

/**
 * Why a `Hello` is refused, or undefined when it is acceptable: a positive integer pid, a name and namespace
 * of bounded length, at most 64 labels of Kubernetes' sizes, at most 16 ports. Unbounded labels let two
 * registrations push `ListTargets` past gRPC's 4 MiB message limit (every controller call then failed).
 */
export function helloProblem(hello: Hello): string | undefined {
  const L = HELLO_LIMITS;
  if (!Number.isInteger(hello.pid) || hello.pid <= 0)
    return `pid must be a positive integer (the service's own process), got ${hello.pid}`;
  if (!hello.name || hello.name.length > L.nameLength) return `name must have 1 to ${L.nameLength} characters`;
  if ((hello.namespace ?? '').length > L.namespaceLength)
    return `namespace must have at most ${L.namespaceLength} characters`;
  const labels = Object.entries(hello.labels ?? {});
  if (labels.length > L.labels) return `at most ${L.labels} labels, got ${labels.length}`;
  for (const [k, v] of labels) {
    if (k.length === 0 || k.length > L.labelKeyLength)
      return `label key "${k.slice(0, 40)}" must have 1 to ${L.labelKeyLength} characters`;
    if (v.length > L.labelValueLength)
      return `label ${k.slice(0, 40)}: value must have at most ${L.labelValueLength} characters`;
  }
  if ((hello.ports ?? []).length > L.ports) return `at most ${L.ports} ports`;
  if ((hello.ports ?? []).some((p) => !Number.isInteger(p) || p < 1 || p > 65535))
    return 'ports must be integers from 1 to 65535';
  return undefined;
}
