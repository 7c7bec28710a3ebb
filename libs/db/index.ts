export * from './database.ts';
export * from './migrator.ts';
