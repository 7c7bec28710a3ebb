import { openDatabase, type Database } from '#libs/db/index.ts';

/** The run's database: Postgres when the global setup chose one, else a fresh in-memory PGlite. */
export async function openTestDatabase(options: { applicationName?: string } = {}): Promise<Database> {
  return openDatabase({ url: process.env.TOLLGATE_TEST_DATABASE_URL, ...options });
}

export function testDatabaseKind(): 'postgres' | 'pglite' {
  return process.env.TOLLGATE_TEST_DATABASE_URL ? 'postgres' : 'pglite';
}
