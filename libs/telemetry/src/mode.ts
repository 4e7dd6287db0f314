/**
 * How much telemetry a service produces: `on` (default: RED metrics + sampled tracing), `metrics` (metrics
 * only) or `off` (neither: a benchmark's baseline). Logs are always on.
 */
export type TelemetryMode = 'on' | 'metrics' | 'off';

const MODES: readonly TelemetryMode[] = ['on', 'metrics', 'off'];

/** Reads `TELEMETRY`; a value it does not know is an error naming the variable and the choices. */
export function telemetryModeFromEnv(env: NodeJS.ProcessEnv = process.env): TelemetryMode {
  const value = (env['TELEMETRY'] ?? 'on').trim();
  if (!(MODES as readonly string[]).includes(value))
    throw new Error(`TELEMETRY=${value} is not supported: use one of ${MODES.join(', ')}`);
  return value as TelemetryMode;
}
