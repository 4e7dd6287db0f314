export * from './metrics.ts';
export * from './tracing.ts';
export * from './logger.ts';
