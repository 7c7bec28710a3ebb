import { and, asc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import { isUniqueViolation, rowsOf, type Db } from '#libs/db/index.ts';
import { alreadyExists } from '#libs/errors/index.ts';
import type { InvalidationEvent, InvalidationKind, NewToken, TokenPatch, TokenRecord, TokenStore } from '../domain/token-record.ts';
import { invalidations, revokedGrants, tokens, type TokenRow } from './schema.ts';

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
      .returning()
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw alreadyExists('id', 'a token with this id or secret');
        throw error;
      });
    return toRecord(row!);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.db.select().from(tokens).where(eq(tokens.id, id));
    return row ? toRecord(row) : undefined;
  }

  async countLive(accountIds: readonly string[], nowMs: number): Promise<number> {
    if (accountIds.length === 0) return 0;
    const rows = rowsOf(
      await this.db.execute(
        sql`select count(*)::int as n from authz.tokens where account_id in (${sql.join(accountIds.map((id) => sql`${id}`), sql`, `)}) and revoked_at is null and (expires_at is null or expires_at > ${new Date(nowMs).toISOString()}::timestamptz)`,
      ),
    );
    return Number(rows[0]?.n ?? 0);
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
      await appendInvalidation(tx as unknown as Db, { kind: 'TOKEN_REVOKED', tokenId: id, accountId: row.accountId });
      return toRecord(row);
    });
  }

  async update(id: string, patch: TokenPatch, nowMs: number): Promise<TokenRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const set: Partial<typeof tokens.$inferInsert> = { updatedAt: new Date(nowMs) };
      if (patch.name !== undefined) set.name = patch.name;
      if (patch.rules !== undefined) set.rules = patch.rules;
      if (patch.ipAllow !== undefined) set.ipAllow = patch.ipAllow;
      if (patch.expiresAtMs !== undefined) set.expiresAt = patch.expiresAtMs === null ? null : new Date(patch.expiresAtMs);
      if (patch.ttlSeconds !== undefined) set.ttlSeconds = patch.ttlSeconds;
      const [row] = await tx.update(tokens).set(set).where(eq(tokens.id, id)).returning();
      if (!row) return undefined;
      await appendInvalidation(tx as unknown as Db, { kind: 'TOKEN_UPDATED', tokenId: id, accountId: row.accountId });
      return toRecord(row);
    });
  }

  async rotate(id: string, secretHash: string, shortHash: string | undefined, graceUntilMs: number | undefined, nowMs: number): Promise<TokenRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const [current] = await tx.select().from(tokens).where(eq(tokens.id, id));
      if (!current) return undefined;
      const [row] = await tx
        .update(tokens)
        .set({
          secretHash,
          shortHash: current.shortHash === null ? null : (shortHash ?? null),
          previousSecretHash: graceUntilMs === undefined ? null : current.secretHash,
          previousValidUntil: graceUntilMs === undefined ? null : new Date(graceUntilMs),
          updatedAt: new Date(nowMs),
        })
        .where(eq(tokens.id, id))
        .returning();
      await appendInvalidation(tx as unknown as Db, { kind: 'TOKEN_UPDATED', tokenId: id, accountId: row!.accountId });
      return toRecord(row!);
    });
  }

  async recordAccountSuspended(accountId: string, sourceKey: string): Promise<void> {
    await this.db.transaction(async (tx) => appendInvalidation(tx as unknown as Db, { kind: 'ACCOUNT_SUSPENDED', accountId, sourceKey }));
  }

  async revokeGrants(grantIds: readonly string[], expiresAtMs: number, nowMs: number): Promise<void> {
    if (grantIds.length === 0) return;
    const ids = [...new Set(grantIds)];
    await this.db.transaction(async (tx) => {
      // A grant revoked again (a retried delivery) keeps its first event; its record lives as long as the later expiry.
      const known = new Set((await tx.select({ grantId: revokedGrants.grantId }).from(revokedGrants).where(inArray(revokedGrants.grantId, ids))).map((r) => r.grantId));
      await tx
        .insert(revokedGrants)
        .values(ids.map((grantId) => ({ grantId, expiresAt: new Date(expiresAtMs), revokedAt: new Date(nowMs) })))
        .onConflictDoUpdate({ target: revokedGrants.grantId, set: { expiresAt: sql`greatest(${revokedGrants.expiresAt}, excluded.expires_at)` } });
      for (const grantId of ids) if (!known.has(grantId)) await appendInvalidation(tx as unknown as Db, { kind: 'GRANT_REVOKED', grantId });
    });
  }

  async isGrantRevoked(grantId: string, nowMs: number): Promise<boolean> {
    const rows = await this.db
      .select({ grantId: revokedGrants.grantId })
      .from(revokedGrants)
      .where(and(eq(revokedGrants.grantId, grantId), gt(revokedGrants.expiresAt, new Date(nowMs))));
    return rows.length > 0;
  }

  async invalidationsSince(afterSequence: number, limit: number): Promise<InvalidationEvent[]> {
    const rows = await this.db.select().from(invalidations).where(gt(invalidations.sequence, afterSequence)).orderBy(asc(invalidations.sequence)).limit(limit);
    return rows.map((r) => ({ sequence: r.sequence, kind: r.kind as InvalidationKind, tokenId: r.tokenId ?? undefined, accountId: r.accountId ?? undefined, grantId: r.grantId ?? undefined }));
  }

  async oldestInvalidationSequence(): Promise<number | undefined> {
    const rows = rowsOf(await this.db.execute(sql`select min(sequence)::bigint as s from authz.invalidations`));
    return rows[0]?.s === null || rows[0]?.s === undefined ? undefined : Number(rows[0].s);
  }

  async latestInvalidationSequence(): Promise<number> {
    const rows = rowsOf(await this.db.execute(sql`select coalesce(max(sequence), 0)::bigint as s from authz.invalidations`));
    return Number(rows[0]?.s ?? 0);
  }

  async recordExpiries(nowMs: number): Promise<number> {
    // One TOKEN_EXPIRED event per expired token, whichever replica notices first.
    const expired = await this.db
      .select({ id: tokens.id, accountId: tokens.accountId })
      .from(tokens)
      .where(
        and(
          isNull(tokens.revokedAt),
          sql`${tokens.expiresAt} <= ${new Date(nowMs).toISOString()}::timestamptz`,
          sql`not exists (select 1 from authz.invalidations i where i.token_id = ${tokens.id} and i.kind = 'TOKEN_EXPIRED')`,
        ),
      )
      .limit(1_000);
    for (const t of expired) await appendInvalidation(this.db, { kind: 'TOKEN_EXPIRED', tokenId: t.id, accountId: t.accountId });
    // A revoked grant's access tokens have all expired by now: its record has nothing left to refuse.
    await this.db.delete(revokedGrants).where(sql`${revokedGrants.expiresAt} <= ${new Date(nowMs).toISOString()}::timestamptz`);
    return expired.length;
  }

  async touch(ids: readonly string[], nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.update(tokens).set({ lastUsedAt: new Date(nowMs) }).where(inArray(tokens.id, [...ids]));
  }
}

/** The channel every authz replica LISTENs on; the payload is the event as JSON. */
export const INVALIDATION_CHANNEL = 'tollgate_authz_invalidations';

/** Appends to the feed and NOTIFYs in the same transaction: listeners hear it exactly when it commits. */
export async function appendInvalidation(db: Db, event: { kind: InvalidationKind; tokenId?: string | undefined; accountId?: string | undefined; grantId?: string | undefined; sourceKey?: string | undefined }): Promise<void> {
  const [row] = await db
    .insert(invalidations)
    .values({ kind: event.kind, tokenId: event.tokenId ?? null, accountId: event.accountId ?? null, grantId: event.grantId ?? null, sourceKey: event.sourceKey ?? null })
    .onConflictDoNothing()
    .returning({ sequence: invalidations.sequence });
  if (!row) return; // another replica already recorded this source event
  const payload = JSON.stringify({ sequence: row!.sequence, kind: event.kind, tokenId: event.tokenId, accountId: event.accountId, grantId: event.grantId });
  await db.execute(sql`select pg_notify(${INVALIDATION_CHANNEL}, ${payload})`);
}
