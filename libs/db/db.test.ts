import { afterAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { mkdtempSync, cpSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, migrate, rowsOf, type Database } from './index.ts';

const here = new URL('.', import.meta.url).pathname;
const widgets = pgSchema('dbtest').table('widgets', { id: text('id').primaryKey(), name: text('name').notNull(), size: integer('size').notNull() });
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function contract(database: Database, schemaSuffix: string) {
  // Each adapter run uses its own copy so the Postgres run and the PGlite run do not share a schema.
  const dir = mkdtempSync(join(tmpdir(), 'tg-mig-'));
  cpSync(join(here, 'test-migrations/ok'), dir, { recursive: true });
  const schema = `dbtest`;
  await database.execScript(`drop schema if exists ${schema} cascade`);
  const first = await migrate(database, { schema, dir });
  expect(first.applied).toEqual(['0001_widgets.sql', '0002_widget_size.sql']);
  const second = await migrate(database, { schema, dir });
  expect(second.applied).toEqual([]);

  await database.db.insert(widgets).values({ id: `w_${schemaSuffix}`, name: "O'Brien; drop table x", size: 3 });
  const rows = await database.db.select().from(widgets).where(eq(widgets.id, `w_${schemaSuffix}`));
  expect(rows[0]?.name).toBe("O'Brien; drop table x");

  appendFileSync(join(dir, '0002_widget_size.sql'), '\n-- edited\n');
  await expect(migrate(database, { schema, dir })).rejects.toThrow(/changed after it was applied/);

  // listen() resolves once the LISTEN is in place: a NOTIFY after it cannot be missed.
  let received!: (payload: string) => void;
  const got = new Promise<string>((resolve) => (received = resolve));
  await database.listen('dbtest_events', received);
  await database.notify('dbtest_events', 'hello');
  expect(await got).toBe('hello');
  const count = rowsOf(await database.db.execute(sql`select count(*)::int as n from dbtest.schema_migrations`));
  expect(count[0]?.n).toBe(2);
  await database.execScript(`drop schema if exists ${schema} cascade`);
  rmSync(dir, { recursive: true, force: true });
}

describe('libs/db migrations and drivers', () => {
  it('migrates, queries and notifies on PGlite', async () => {
    const database = await openDatabase({});
    cleanups.push(() => database.close());
    expect(database.kind).toBe('pglite');
    await contract(database, 'pglite');
  });

  const url = process.env.TOLLGATE_TEST_DATABASE_URL;
  it.runIf(url)('migrates, queries and notifies on Postgres (runs when DATABASE_URL is set)', async () => {
    const database = await openDatabase({ url });
    cleanups.push(() => database.close());
    expect(database.kind).toBe('postgres');
    await contract(database, 'postgres');
  });

  it.runIf(url)('two processes migrating a fresh schema at once both succeed, and it is migrated once (Postgres)', async () => {
    // Two connection pools, as two replicas (or two test workers) starting on a fresh database.
    const [a, b] = await Promise.all([openDatabase({ url }), openDatabase({ url })]);
    cleanups.push(() => a.close(), () => b.close());
    const schema = 'dbtest'; // the test migrations name their schema
    const dir = join(here, 'test-migrations/ok');
    for (let round = 0; round < 5; round++) {
      await a.execScript(`drop schema if exists ${schema} cascade`);
      const results = await Promise.all([migrate(a, { schema, dir }), migrate(b, { schema, dir })]);
      expect(results.flatMap((r) => r.applied).sort()).toEqual(['0001_widgets.sql', '0002_widget_size.sql']);
    }
    await a.execScript(`drop schema if exists ${schema} cascade`);
  });

  it('refuses a migration folder with a gap', async () => {
    const database = await openDatabase({});
    cleanups.push(() => database.close());
    await expect(migrate(database, { schema: 'gaptest', dir: join(here, 'test-migrations/gap') })).rejects.toThrow(/expected version 1/);
  });

  it('names an unreachable database without its password', async () => {
    const error = await openDatabase({ url: 'postgres://u:s3cret@127.0.0.1:1/x', connectTimeoutSeconds: 2 }).catch((e: Error) => e);
    expect(String(error)).toMatch(/database unreachable at 127\.0\.0\.1:1\/x/);
    expect(String(error)).not.toContain('s3cret');
  });
});
