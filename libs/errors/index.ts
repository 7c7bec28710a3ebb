export * from './app-error.ts';
export * from './status-table.ts';
