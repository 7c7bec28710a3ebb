import { afterAll, beforeAll } from 'vitest';
import { migrate, openDatabase, type Database, type MigrationSet } from '#libs/db/index.ts';
import { createScratchDatabase } from './database.ts';

/** A SQL backend a store contract suite runs against, with one migrated database of the suite's own. */
export interface StoreBackend {
  readonly name: 'pglite' | 'postgres';
  /** Why this backend does not run here (no Postgres server in this run); undefined when it runs. */
  readonly skip: string | undefined;
  /** The suite's database, opened and migrated before the file's tests, closed (and dropped) after them. */
  database(): Promise<Database>;
}

/**
 * PGlite, always; and the run's Postgres server when it has one (DATABASE_URL or testcontainers):
 * a new database on it per suite, dropped afterwards. Call at the top level of a test file.
 * Contract cases own their data by id (their own account ids), so one database serves a suite;
 * `afterMigrate` may change that database's schema for the suite (it is the suite's alone).
 */
export function storeBackends(migrations: readonly MigrationSet[], options: { afterMigrate?: (database: Database) => Promise<void> } = {}): StoreBackend[] {
  const backend = (name: StoreBackend['name'], skip: string | undefined, open: () => Promise<Database>): StoreBackend => {
    let opened: Promise<Database> | undefined;
    const database = () =>
      (opened ??= (async () => {
        const db = await open();
        for (const set of migrations) await migrate(db, set);
        await options.afterMigrate?.(db);
        return db;
      })());
    // Opened (and migrated) in a hook, under the hook timeout: on a busy machine PGlite's start
    // alone can outlast a test's timeout.
    if (!skip) beforeAll(database, 180_000);
    afterAll(async () => {
      if (opened) await (await opened).close();
    });
    return { name, skip, database };
  };
  const postgresSkip = process.env.TOLLGATE_TEST_DATABASE_URL ? undefined : 'no Postgres server in this run (set DATABASE_URL)';
  return [
    backend('pglite', undefined, () => openDatabase({ url: undefined })),
    backend('postgres', postgresSkip, async () => {
      const scratch = await createScratchDatabase();
      if (!scratch) throw new Error('no Postgres server in this run');
      const database = await openDatabase({ url: scratch.url, poolSize: 4 });
      return {
        ...database,
        async close() {
          await database.close();
          await scratch.drop();
        },
      };
    }),
  ];
}
