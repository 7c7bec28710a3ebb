export * from './env-schema.ts';
export * from './mesh-config.ts';
