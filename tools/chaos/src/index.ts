export * from './plan/translate.ts';
export * from './workflow.ts';
export * from './scheduler.ts';
export * from './plan/policy.ts';
export * from './verdict/hypotheses.ts';
export * from './verdict/load.ts';
export * from './report/report.ts';
export { hypothesesFrom } from './verdict/hypotheses.ts';
