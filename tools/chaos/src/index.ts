export * from './plan/translate.ts';
export * from './run/workflow.ts';
export * from './run/scheduler.ts';
export * from './plan/policy.ts';
export * from './verdict/hypotheses.ts';
export * from './verdict/load.ts';
export * from './report/report.ts';
export { hypothesesFrom } from './verdict/hypotheses.ts';
