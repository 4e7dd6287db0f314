import { UnsupportedLocallyError, ms, type PlanContext } from './context.ts';

/** Chaos Mesh clock ids and the Node clocks that read them (the time-offset driver's `clocks`). */
const CLOCK_IDS: Record<string, string> = {
  CLOCK_REALTIME: 'realtime',
  CLOCK_REALTIME_COARSE: 'realtime',
  CLOCK_MONOTONIC: 'monotonic',
  CLOCK_MONOTONIC_RAW: 'monotonic',
  CLOCK_MONOTONIC_COARSE: 'monotonic',
  CLOCK_BOOTTIME: 'monotonic',
};

/** TimeChaos: the service's clocks shifted in-process (Date, performance.now, process.hrtime). */
export function planTime({ spec, each }: PlanContext): void {
  const clocks = new Set<string>();
  for (const id of (spec['clockIds'] as string[] | undefined) ?? ['CLOCK_REALTIME']) {
    const clock = CLOCK_IDS[id];
    if (!clock)
      throw new UnsupportedLocallyError(
        `TimeChaos clockIds ${id}: in-process, the shifted clocks are ${Object.keys(CLOCK_IDS).join(', ')} (what a Node service reads)`,
      );
    clocks.add(clock);
  }
  each('time-offset', { offsetMs: ms(spec['timeOffset']), clocks: [...clocks] });
}

/** DNSChaos: names failed (or answered at random) inside the selected services. */
export function planDns({ spec, each, note }: PlanContext): void {
  each('dns-fault', {
    action: String(spec['action'] ?? 'error'),
    patterns: (spec['patterns'] as string[] | undefined) ?? [],
  });
  note(
    'DNSChaos: names are failed inside the selected services (dns.lookup, and calls to a named upstream), not by a cluster DNS server',
  );
}
