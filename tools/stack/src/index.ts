export * from './stack.ts';
export * from './managed-process.ts';
