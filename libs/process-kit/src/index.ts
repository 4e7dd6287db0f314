export * from './lines.ts';
export * from './owned-process.ts';
export * from './wait.ts';
export * from './supervisor.ts';
export * from './pid-alive.ts';
export * from './wakeable-delay.ts';
export * from './free-ports.ts';
