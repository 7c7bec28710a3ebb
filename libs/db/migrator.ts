import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { AppError } from '#libs/errors/index.ts';
import type { Database } from './database.ts';

export interface MigrationSet {
  /** Postgres schema owned by the service, e.g. `authz`. */
  schema: string;
  /** Folder of `NNNN_name.sql` files, applied in order, forward-only. */
  dir: string;
}

export interface MigrationResult {
  schema: string;
  applied: string[];
}

const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;
const SCHEMA = /^[a-z][a-z0-9_]{0,62}$/;

export function listMigrations(dir: string): { version: number; name: string; text: string; checksum: string }[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  return files.map((name, index) => {
    const match = FILE.exec(name);
    if (!match) throw new AppError('FAILED_PRECONDITION', `migration ${name}: expected NNNN_name.sql`);
    const version = Number(match[1]);
    if (version !== index + 1) throw new AppError('FAILED_PRECONDITION', `migration ${name}: expected version ${index + 1} (no gaps)`);
    const text = readFileSync(join(dir, name), 'utf8');
    return { version, name, text, checksum: createHash('sha256').update(text).digest('hex') };
  });
}

/**
 * Applies a service's pending migrations, each in its own transaction, serialized across
 * replicas by an advisory lock. A changed file that was already applied is refused: migrations
 * are forward-only, so write a new one.
 */
export async function migrate(database: Database, set: MigrationSet): Promise<MigrationResult> {
  if (!SCHEMA.test(set.schema)) throw new AppError('INVALID_ARGUMENT', `bad schema name ${set.schema}`);
  const migrations = listMigrations(set.dir);
  const table = `"${set.schema}".schema_migrations`;
  const lockKey = Number.parseInt(createHash('sha256').update(`tollgate:migrate:${set.schema}`).digest('hex').slice(0, 8), 16);
  // Static identifiers only (validated above); no value is interpolated. Postgres's `if not exists`
  // is not safe against a concurrent creator (two replicas, or two test processes, starting on a
  // fresh database): the loser hits the catalog's unique index. The migration lock narrows that,
  // but a backend can still check against a catalog cache that has not seen the winner's commit (an
  // advisory lock takes no relation lock, so no invalidation is read); a second try in a new
  // transaction, which reads them, finds what the winner created.
  const bootstrap = () =>
    database.execScript(`
      select pg_advisory_xact_lock(${lockKey});
      create schema if not exists "${set.schema}";
      create table if not exists ${table} (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      );`);
  await bootstrap().catch((error: unknown) => {
    if (!isUniqueViolation(error)) throw error;
    return bootstrap();
  });
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await database.db.execute(sql`select checksum from ${sql.raw(table)} where version = ${m.version}`);
    const row = rowsOf(done)[0] as { checksum: string } | undefined;
    if (row) {
      if (row.checksum !== m.checksum) {
        throw new AppError('FAILED_PRECONDITION', `migration ${set.schema}/${m.name} was changed after it was applied; add a new migration instead`);
      }
      continue;
    }
    const escapedName = m.name.replaceAll("'", "''");
    const ran = await database.execScript(`
      select pg_advisory_xact_lock(${lockKey});
      do $tollgate$ begin
        if exists (select 1 from ${table} where version = ${m.version}) then
          raise exception 'tollgate: migration already applied by another process';
        end if;
      end $tollgate$;
      ${m.text}
      ;
      insert into ${table} (version, name, checksum) values (${m.version}, '${escapedName}', '${m.checksum}');`).then(
      () => true,
      (error: unknown) => {
        if (String((error as Error).message).includes('already applied by another process')) return false;
        throw new AppError('INTERNAL', `migration ${set.schema}/${m.name} failed: ${(error as Error).message}`, { cause: error });
      },
    );
    // What this process applied (another one may have applied it first).
    if (ran) applied.push(m.name);
  }
  return { schema: set.schema, applied };
}

/** drizzle's execute() returns rows directly (postgres.js) or `{ rows }` (PGlite). */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  return ((result as { rows?: Record<string, unknown>[] }).rows ?? []) as Record<string, unknown>[];
}

/** A unique-constraint violation (SQLSTATE 23505) from either driver, raw or wrapped by drizzle. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === '23505' || e?.cause?.code === '23505';
}
