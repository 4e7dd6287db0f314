export * from './translate.ts';
export * from './workflow.ts';
export * from './scheduler.ts';
export * from './policy.ts';
export * from './hypotheses.ts';
export * from './load.ts';
export * from './report/report.ts';
export { hypothesesFrom } from './hypotheses.ts';
