import { and, asc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '#libs/db/index.ts';
import type { NewToken, TokenRecord, TokenStore } from '../domain/token-record.ts';
import { invalidations, tokens, type TokenRow } from './schema.ts';

const ms = (d: Date | null): number | undefined => (d ? d.getTime() : undefined);

function toRecord(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    accountId: row.accountId,
    name: row.name,
    kind: row.kind,
    rules: row.rules,
    ipAllow: row.ipAllow,
    expiresAtMs: ms(row.expiresAt),
    ttlSeconds: row.ttlSeconds,
    shortForm: row.shortHash !== null,
    createdBy: row.createdBy,
    createdAtMs: row.createdAt.getTime(),
    revokedAtMs: ms(row.revokedAt),
    lastUsedAtMs: ms(row.lastUsedAt),
  };
}

/** Tokens in the `authz` schema (Postgres or PGlite). */
export class PostgresTokenStore implements TokenStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async create(token: NewToken): Promise<TokenRecord> {
    const [row] = await this.db
      .insert(tokens)
      .values({
        id: token.id,
        accountId: token.accountId,
        name: token.name,
        kind: token.kind,
        secretHash: token.secretHash,
        shortHash: token.shortHash ?? null,
        rules: token.rules,
        ipAllow: token.ipAllow,
        expiresAt: token.expiresAtMs === undefined ? null : new Date(token.expiresAtMs),
        ttlSeconds: token.ttlSeconds,
        createdBy: token.createdBy,
      })
      .returning();
    return toRecord(row!);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.db.select().from(tokens).where(eq(tokens.id, id));
    return row ? toRecord(row) : undefined;
  }

  async getShortHash(id: string): Promise<string | undefined> {
    const [row] = await this.db.select({ shortHash: tokens.shortHash }).from(tokens).where(eq(tokens.id, id));
    return row?.shortHash ?? undefined;
  }

  async findBySecretHash(hash: string, nowMs: number): Promise<TokenRecord | undefined> {
    const [row] = await this.db
      .select()
      .from(tokens)
      .where(or(eq(tokens.secretHash, hash), and(eq(tokens.previousSecretHash, hash), gt(tokens.previousValidUntil, new Date(nowMs)))));
    return row ? toRecord(row) : undefined;
  }

  async list(accountIds: readonly string[], options: { includeRevoked: boolean; limit: number; afterId?: string | undefined }): Promise<TokenRecord[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.db
      .select()
      .from(tokens)
      .where(
        and(
          inArray(tokens.accountId, [...accountIds]),
          options.includeRevoked ? undefined : isNull(tokens.revokedAt),
          options.afterId ? gt(tokens.id, options.afterId) : undefined,
        ),
      )
      .orderBy(asc(tokens.id))
      .limit(options.limit);
    return rows.map(toRecord);
  }

  async revoke(id: string, nowMs: number): Promise<TokenRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(tokens)
        .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${new Date(nowMs).toISOString()}::timestamptz)`, updatedAt: new Date(nowMs) })
        .where(eq(tokens.id, id))
        .returning();
      if (!row) return undefined;
      await tx.insert(invalidations).values({ kind: 'TOKEN_REVOKED', tokenId: id, accountId: row.accountId });
      return toRecord(row);
    });
  }
}
