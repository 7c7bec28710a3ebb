import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { bigint, boolean, jsonb, pgSchema, text } from 'drizzle-orm/pg-core';
import type { Db } from '#libs/db/index.ts';
import type { SecretBox } from '#libs/crypto/secret-box.ts';
import type { TotpEnrollment } from '../domain/two-factor.ts';
import type { Permission } from '../domain/resource-access.ts';
import type { GrantStore, TotpStore } from '../domain/ports.ts';

const identity = pgSchema('identity');

const totp = identity.table('totp_enrollments', {
  userId: text('user_id').primaryKey(),
  status: text('status').$type<'pending' | 'active'>().notNull(),
  sealedSecret: text('sealed_secret').notNull(),
  createdAtMs: bigint('created_at_ms', { mode: 'number' }).notNull(),
  confirmedAtMs: bigint('confirmed_at_ms', { mode: 'number' }),
  lastUsedStep: bigint('last_used_step', { mode: 'number' }),
  recoveryCodeHashes: jsonb('recovery_code_hashes').$type<string[]>().notNull(),
});

const resources = identity.table('resources', {
  accountId: text('account_id').notNull(),
  resourceId: text('resource_id').notNull(),
  restricted: boolean('restricted').notNull(),
});

const grants = identity.table('resource_grants', {
  accountId: text('account_id').notNull(),
  resourceId: text('resource_id').notNull(),
  userId: text('user_id').notNull(),
  permission: text('permission').$type<Permission>().notNull(),
});

/** TOTP enrollments, their secret sealed (AAD: the user id) so a row copied to another user opens nowhere. */
export class PostgresTotpStore implements TotpStore {
  private readonly db: Db;
  private readonly box: SecretBox;
  constructor(db: Db, box: SecretBox) {
    this.db = db;
    this.box = box;
  }
  async get(userId: string): Promise<TotpEnrollment | undefined> {
    const [row] = await this.db.select().from(totp).where(eq(totp.userId, userId));
    if (!row) return undefined;
    return {
      status: row.status,
      secret: this.box.openText(row.sealedSecret, `totp:${userId}`),
      createdAtMs: row.createdAtMs,
      confirmedAtMs: row.confirmedAtMs ?? null,
      lastUsedStep: row.lastUsedStep ?? null,
      recoveryCodeHashes: row.recoveryCodeHashes,
    };
  }
  async put(userId: string, e: TotpEnrollment): Promise<void> {
    const values = {
      status: e.status,
      sealedSecret: this.box.seal(e.secret, `totp:${userId}`),
      createdAtMs: e.createdAtMs,
      confirmedAtMs: e.confirmedAtMs,
      lastUsedStep: e.lastUsedStep,
      recoveryCodeHashes: e.recoveryCodeHashes,
    };
    await this.db.insert(totp).values({ userId, ...values }).onConflictDoUpdate({ target: totp.userId, set: values });
  }
  /**
   * Moves an active enrollment from `before` to `after` (a used time step, a spent recovery code)
   * only if nobody else did first: two logins racing with one code cannot both pass (compare-and-set).
   */
  async advance(userId: string, before: TotpEnrollment, after: TotpEnrollment): Promise<boolean> {
    const rows = await this.db
      .update(totp)
      .set({ lastUsedStep: after.lastUsedStep, recoveryCodeHashes: after.recoveryCodeHashes })
      .where(
        and(
          eq(totp.userId, userId),
          eq(totp.status, 'active'),
          before.lastUsedStep === null ? isNull(totp.lastUsedStep) : eq(totp.lastUsedStep, before.lastUsedStep),
          sql`${totp.recoveryCodeHashes} = ${JSON.stringify(before.recoveryCodeHashes)}::jsonb`,
        ),
      )
      .returning({ userId: totp.userId });
    return rows.length === 1;
  }
  async delete(userId: string): Promise<void> {
    await this.db.delete(totp).where(eq(totp.userId, userId));
  }
  /** Which of these users have 2FA active. */
  async activeAmong(userIds: readonly string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.db.select({ userId: totp.userId }).from(totp).where(and(inArray(totp.userId, [...userIds]), eq(totp.status, 'active')));
    return new Set(rows.map((r) => r.userId));
  }
}

/** Restricted flags and grants of dataset-level resources. */
export class PostgresGrantStore implements GrantStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  async restricted(accountId: string, resourceId: string): Promise<boolean> {
    const [row] = await this.db.select().from(resources).where(and(eq(resources.accountId, accountId), eq(resources.resourceId, resourceId)));
    return row?.restricted ?? false;
  }
  async setRestricted(accountId: string, resourceId: string, restricted: boolean): Promise<void> {
    await this.db
      .insert(resources)
      .values({ accountId, resourceId, restricted })
      .onConflictDoUpdate({ target: [resources.accountId, resources.resourceId], set: { restricted } });
  }
  async grant(accountId: string, resourceId: string, userId: string, permission: Permission): Promise<void> {
    await this.db
      .insert(grants)
      .values({ accountId, resourceId, userId, permission })
      .onConflictDoUpdate({ target: [grants.accountId, grants.resourceId, grants.userId], set: { permission } });
  }
  async revoke(accountId: string, resourceId: string, userId: string): Promise<void> {
    await this.db.delete(grants).where(and(eq(grants.accountId, accountId), eq(grants.resourceId, resourceId), eq(grants.userId, userId)));
  }
  async list(accountId: string, resourceId: string): Promise<{ userId: string; permission: Permission }[]> {
    return this.db.select({ userId: grants.userId, permission: grants.permission }).from(grants).where(and(eq(grants.accountId, accountId), eq(grants.resourceId, resourceId)));
  }
}
