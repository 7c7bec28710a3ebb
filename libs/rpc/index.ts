export * from './call-context.ts';
export * from './client.ts';
export * from './server.ts';
export * from './service-definition.ts';
export * from './status-details.ts';
export * from './tls.ts';
export type * from './types.ts';
export * from './lazy-client.ts';
export * from './health-client.ts';
