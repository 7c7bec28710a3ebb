import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { AppError } from '#libs/errors/index.ts';

/** The drizzle database every store is written against: the same code on Postgres and PGlite. */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  /** Runs static SQL text, several statements allowed, in one transaction. Migrations only: never user input. */
  execScript(text: string): Promise<void>;
  /**
   * LISTEN on a channel; returns a function that stops listening. `onListen` runs each time the
   * LISTEN is (re)established: notifications sent while it was down are lost, so a cache drops all.
   */
  listen(channel: string, onPayload: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Postgres URL; when unset, embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite directory (its data lives in `<dataDir>/pglite`); in memory when unset. */
  dataDir?: string | undefined;
  /** Connection pool size for Postgres. */
  poolSize?: number;
  connectTimeoutSeconds?: number;
  /** Postgres `application_name` of every connection (shows in pg_stat_activity). */
  applicationName?: string;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options) : openPglite(options.dataDir);
}

/** The address of a database URL without its credentials, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(malformed URL)';
  }
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  let client: postgres.Sql;
  try {
    client = postgres(url, {
      max: options.poolSize ?? 10,
      connect_timeout: options.connectTimeoutSeconds ?? 10,
      onnotice: () => {},
      connection: { application_name: options.applicationName ?? 'tollgate' },
    });
  } catch (error) {
    throw new AppError('INVALID_ARGUMENT', `DATABASE_URL: malformed (${(error as Error).message})`, { field: 'DATABASE_URL' });
  }
  try {
    await client`select 1`;
  } catch (error) {
    await client.end({ timeout: 1 }).catch(() => {});
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new AppError('UNAVAILABLE', `database unreachable at ${describeUrl(url)} (${code})`, { reason: 'DATABASE_UNREACHABLE' });
  }
  const db = drizzlePostgres(client) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    async execScript(text) {
      await client.begin(async (tx) => {
        await tx.unsafe(text);
      });
    },
    async listen(channel, onPayload, onListen) {
      if (!CHANNEL.test(channel)) throw new AppError('INVALID_ARGUMENT', `bad channel name ${channel}`);
      const sub = await client.listen(channel, onPayload, onListen);
      return () => sub.unlisten();
    },
    async notify(channel, payload) {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  let pg: PGlite;
  if (dataDir) {
    const dir = join(dataDir, 'pglite');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    pg = new PGlite(dir);
  } else {
    pg = new PGlite();
  }
  await pg.waitReady;
  const db = drizzlePglite(pg) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    async execScript(text) {
      await pg.transaction(async (tx) => {
        await tx.exec(text);
      });
    },
    async listen(channel, onPayload, onListen) {
      if (!CHANNEL.test(channel)) throw new AppError('INVALID_ARGUMENT', `bad channel name ${channel}`);
      const unsubscribe = await pg.listen(channel, onPayload);
      // In-process: once listening, never interrupted.
      onListen?.();
      return unsubscribe;
    },
    async notify(channel, payload) {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
    async close() {
      await pg.close();
    },
  };
}
