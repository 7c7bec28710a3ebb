export * from './env-schema.ts';
export * from './service-env.ts';
