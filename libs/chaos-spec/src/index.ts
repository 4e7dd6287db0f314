export * from './model.ts';
export * from './duration.ts';
export * from './cron.ts';
export * from './parse.ts';
export * from './select.ts';
export * from './random.ts';
export { crdManifests, crdPlural, crdSchema, toJsonSchema } from './schemas.ts';
export * from './units.ts';
