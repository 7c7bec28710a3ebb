import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type Database } from '#libs/db/index.ts';

/** The run's database: Postgres when the global setup chose one, else a fresh in-memory PGlite. */
export async function openTestDatabase(options: { applicationName?: string } = {}): Promise<Database> {
  return openDatabase({ url: process.env.TOLLGATE_TEST_DATABASE_URL, ...options });
}

export function testDatabaseKind(): 'postgres' | 'pglite' {
  return process.env.TOLLGATE_TEST_DATABASE_URL ? 'postgres' : 'pglite';
}

/** The run's mesh secret key: everything that shares the run's database must seal with it. */
export function testSecretKey(): Uint8Array {
  return process.env.TOLLGATE_TEST_SECRET_KEY ? Buffer.from(process.env.TOLLGATE_TEST_SECRET_KEY, 'base64') : randomBytes(32);
}

/**
 * A new, empty database on the run's Postgres server for a test that runs the real CLI or services
 * as OS processes against it (so it needs the URL, not an open handle); `drop()` removes it.
 * Undefined on a PGlite run: there is no server to make one on.
 */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const runUrl = process.env.TOLLGATE_TEST_DATABASE_URL;
  if (!runUrl) return undefined;
  const url = new URL(runUrl);
  const name = `${url.pathname.slice(1)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(runUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const cleanup = postgres(runUrl, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await cleanup.end({ timeout: 5 });
      }
    },
  };
}

/**
 * A database of this test's own, for tests that must not share state with the rest of the run (an
 * injected clock years ahead would prune or rotate keys the other tests rely on). On Postgres a new
 * database on the run's server, dropped on close; on PGlite every database is its own anyway.
 */
export async function openIsolatedTestDatabase(): Promise<Database> {
  const scratch = await createScratchDatabase();
  if (!scratch) return openDatabase({ url: undefined });
  const database = await openDatabase({ url: scratch.url });
  return {
    ...database,
    async close() {
      await database.close();
      await scratch.drop();
    },
  };
}
