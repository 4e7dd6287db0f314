export * from './stats.ts';
export * from './next-run.ts';
export * from './goal.ts';
export * from './rounds.ts';
export * from './machine.ts';
export * from './report.ts';
export * from './proc-cpu.ts';
export * from './replications.ts';
