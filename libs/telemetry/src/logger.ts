import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { activeTraceIds } from './tracing.ts';

/**
 * A pino logger whose every line carries the service name and the active trace and span ids, so logs and
 * traces join. Level from `LOG_LEVEL` (default `info`; `silent` in tests).
 */
export function createLogger(service: string, options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const settings: LoggerOptions = {
    level: process.env['LOG_LEVEL'] ?? 'info',
    base: { service, pid: process.pid },
    mixin: activeTraceIds,
    ...options,
  };
  return destination ? pino(settings, destination) : pino(settings);
}

export type { Logger } from 'pino';
