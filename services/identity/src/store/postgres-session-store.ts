import { and, desc, eq, gte, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import { bigint, integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import type { JWK } from 'jose';
import type { Db } from '#libs/db/index.ts';
import type { RefreshTokenFamily, RefreshTokenRecord, RefreshTokenStore, RevokeReason } from '../domain/refresh-tokens.ts';
import type { StoredSigningKey, SigningKeyStore } from '../crypto/signing-key-ring.ts';
import type { AttemptState } from '../domain/login-throttle.ts';
import type { AuditEvent } from '../domain/audit-event.ts';
import type { AuditFilter, AuditStore, ThrottleStore } from '../domain/ports.ts';

const identity = pgSchema('identity');
const ms = (name: string) => bigint(name, { mode: 'number' });

const signingKeys = identity.table('signing_keys', {
  kid: text('kid').primaryKey(),
  createdAtMs: ms('created_at_ms').notNull(),
  retiredAtMs: ms('retired_at_ms'),
  publicJwk: jsonb('public_jwk').$type<JWK>().notNull(),
  sealedPrivateJwk: text('sealed_private_jwk').notNull(),
});

const families = identity.table('refresh_families', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull(),
  accountId: text('account_id').notNull(),
  createdAtMs: ms('created_at_ms').notNull(),
  absoluteExpiresAtMs: ms('absolute_expires_at_ms').notNull(),
  revokedAtMs: ms('revoked_at_ms'),
  revokeReason: text('revoke_reason').$type<RevokeReason>(),
});

const refreshTokens = identity.table('refresh_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  familyId: text('family_id').notNull(),
  accountId: text('account_id').notNull(),
  issuedAtMs: ms('issued_at_ms').notNull(),
  expiresAtMs: ms('expires_at_ms').notNull(),
  usedAtMs: ms('used_at_ms'),
});

const loginAttempts = identity.table('login_attempts', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  lastFailureAtMs: ms('last_failure_at_ms').notNull(),
  lockedUntilMs: ms('locked_until_ms'),
});

const auditEvents = identity.table('audit_events', {
  id: text('id').primaryKey(),
  kind: text('kind').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull(),
  outcome: text('outcome').notNull(),
  actorUserId: text('actor_user_id'),
  accountId: text('account_id'),
  ip: text('ip'),
  subject: text('subject'),
  reason: text('reason'),
  details: jsonb('details').$type<Record<string, string>>().notNull(),
  actorKind: text('actor_kind'),
  actorSubject: text('actor_subject'),
  requestId: text('request_id'),
  source: text('source').notNull(),
});

/** Refresh-token families and tokens in the `identity` schema; `markUsed` is a compare-and-set. */
export class PostgresRefreshTokenStore implements RefreshTokenStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async createFamily(f: RefreshTokenFamily): Promise<void> {
    await this.db.insert(families).values({ ...f });
  }
  async getFamily(id: string): Promise<RefreshTokenFamily | undefined> {
    const [row] = await this.db.select().from(families).where(eq(families.id, id));
    return row ? { ...row, revokedAtMs: row.revokedAtMs ?? null, revokeReason: row.revokeReason ?? null } : undefined;
  }
  async insertToken(t: RefreshTokenRecord): Promise<void> {
    await this.db.insert(refreshTokens).values({ ...t });
  }
  async findToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    const [row] = await this.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash));
    return row ? { ...row, usedAtMs: row.usedAtMs ?? null } : undefined;
  }
  async markUsed(hash: string, atMs: number): Promise<boolean> {
    const rows = await this.db.update(refreshTokens).set({ usedAtMs: atMs }).where(and(eq(refreshTokens.tokenHash, hash), isNull(refreshTokens.usedAtMs))).returning({ h: refreshTokens.tokenHash });
    return rows.length === 1;
  }
  async revokeFamily(id: string, atMs: number, reason: RevokeReason): Promise<boolean> {
    const rows = await this.db.update(families).set({ revokedAtMs: atMs, revokeReason: reason }).where(and(eq(families.id, id), isNull(families.revokedAtMs))).returning({ id: families.id });
    return rows.length === 1;
  }
  async revokeFamiliesOfUser(userId: string, atMs: number, reason: RevokeReason): Promise<string[]> {
    const rows = await this.db.update(families).set({ revokedAtMs: atMs, revokeReason: reason }).where(and(eq(families.userId, userId), isNull(families.revokedAtMs))).returning({ id: families.id });
    return rows.map((r) => r.id);
  }
}

/** Signing keys; the private half arrives sealed (secret-box) and is stored as is. */
export class PostgresSigningKeyStore implements SigningKeyStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async list(): Promise<StoredSigningKey[]> {
    const rows = await this.db.select().from(signingKeys).orderBy(signingKeys.createdAtMs);
    return rows.map((r) => ({ ...r, retiredAtMs: r.retiredAtMs ?? null }));
  }
  async insert(key: StoredSigningKey): Promise<void> {
    await this.db.insert(signingKeys).values({ ...key });
  }
  async retire(kid: string, atMs: number): Promise<void> {
    await this.db.update(signingKeys).set({ retiredAtMs: atMs }).where(and(eq(signingKeys.kid, kid), isNull(signingKeys.retiredAtMs)));
  }
  async delete(kid: string): Promise<void> {
    await this.db.delete(signingKeys).where(eq(signingKeys.kid, kid));
  }
}

/** Failed-attempt counters per username and per IP (keys from the throttle domain). */
export class PostgresThrottleStore implements ThrottleStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async get(key: string): Promise<AttemptState | undefined> {
    const [row] = await this.db.select().from(loginAttempts).where(eq(loginAttempts.key, key));
    return row ? { failures: row.failures, lastFailureAtMs: row.lastFailureAtMs, lockedUntilMs: row.lockedUntilMs ?? null } : undefined;
  }
  async put(key: string, state: AttemptState | undefined): Promise<void> {
    if (!state) {
      await this.db.delete(loginAttempts).where(eq(loginAttempts.key, key));
      return;
    }
    await this.db
      .insert(loginAttempts)
      .values({ key, ...state })
      .onConflictDoUpdate({ target: loginAttempts.key, set: { failures: state.failures, lastFailureAtMs: state.lastFailureAtMs, lockedUntilMs: state.lockedUntilMs } });
  }
  /**
   * Keys starting with `prefix` (other than `exceptKey`) that still hold something: a failure
   * since `sinceMs` or a lockout running at `nowMs`. (A prefix match by `left()`, not LIKE: the
   * prefix holds a username, whose `%` and `_` must not act as wildcards.)
   */
  async countLive(prefix: string, exceptKey: string, sinceMs: number, nowMs: number): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(loginAttempts)
      .where(
        and(
          sql`left(${loginAttempts.key}, ${prefix.length}) = ${prefix}`,
          sql`${loginAttempts.key} <> ${exceptKey}`,
          or(gte(loginAttempts.lastFailureAtMs, sinceMs), sql`${loginAttempts.lockedUntilMs} > ${nowMs}`),
        ),
      );
    return row?.n ?? 0;
  }
  /** Deletes `keys` and every key starting with one of `prefixes`; answers the keys that held a running lockout. */
  async clear(keys: readonly string[], prefixes: readonly string[], nowMs: number): Promise<string[]> {
    const conditions = [...(keys.length > 0 ? [inArray(loginAttempts.key, [...keys])] : []), ...prefixes.map((p) => sql`left(${loginAttempts.key}, ${p.length}) = ${p}`)];
    if (conditions.length === 0) return [];
    const rows = await this.db.delete(loginAttempts).where(or(...conditions)).returning({ key: loginAttempts.key, lockedUntilMs: loginAttempts.lockedUntilMs });
    return rows.filter((r) => r.lockedUntilMs !== null && r.lockedUntilMs > nowMs).map((r) => r.key);
  }
}

/** The append-only audit log. */
export class PostgresAuditStore implements AuditStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  /** Appends; an event whose id is already stored is skipped (a service's retried batch is stored once). */
  async append(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insert(auditEvents)
      .values(events.map((e) => ({ ...e, at: new Date(e.atMs), details: { ...e.details } })))
      .onConflictDoNothing({ target: auditEvents.id });
  }
  /**
   * Newest first. `accountIds` empty = every account (mesh services only); `before` is the last
   * event of the previous page (time, then id: events of one millisecond are neither lost nor repeated).
   */
  async list(filter: AuditFilter): Promise<AuditEvent[]> {
    const before = filter.before;
    const rows = await this.db
      .select()
      .from(auditEvents)
      .where(
        and(
          filter.accountIds && filter.accountIds.length > 0 ? inArray(auditEvents.accountId, [...filter.accountIds]) : undefined,
          filter.kind ? eq(auditEvents.kind, filter.kind) : undefined,
          filter.sinceMs !== undefined ? gte(auditEvents.at, new Date(filter.sinceMs)) : undefined,
          before ? or(lt(auditEvents.at, new Date(before.atMs)), and(eq(auditEvents.at, new Date(before.atMs)), lt(auditEvents.id, before.id))) : undefined,
        ),
      )
      .orderBy(desc(auditEvents.at), desc(auditEvents.id))
      .limit(filter.limit);
    return rows.map(({ at, ...r }) => ({ ...r, atMs: at.getTime(), kind: r.kind as AuditEvent['kind'], outcome: r.outcome as AuditEvent['outcome'], actorKind: (r.actorKind ?? (r.actorUserId ? 'user' : null)) as AuditEvent['actorKind'], actorSubject: r.actorSubject ?? r.actorUserId }));
  }
}
