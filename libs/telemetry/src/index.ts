export * from './metrics.ts';
export * from './tracing.ts';
export * from './sampling.ts';
export * from './mode.ts';
export * from './logger.ts';
export * from './request-traces.ts';
export * from './sync-context-manager.ts';
export * from './encoding-span-processor.ts';
