export * from './service-app.ts';
export * from './run-service.ts';
export * from './http-error.ts';
export * from './config.ts';
export * from './db.ts';
export * from './upstream.ts';
