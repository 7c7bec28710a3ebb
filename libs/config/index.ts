export * from './env-schema.ts';
export * from './mesh-config.ts';
export * from './quota-replicas.ts';
