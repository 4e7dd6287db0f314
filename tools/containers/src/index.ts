export * from './docker.ts';
export * from './images.ts';
export * from './environment.ts';
export * from './workspace.ts';
