import { bigint, bigserial, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

export const authzSchema = pgSchema('authz');

export interface StoredRule {
  effect: 'allow' | 'deny';
  actions: string[];
  resources: string[];
}

export const tokens = authzSchema.table('tokens', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull(),
  name: text('name').notNull(),
  kind: text('kind').$type<'master' | 'standard' | 'acl'>().notNull(),
  secretHash: text('secret_hash').notNull(),
  shortHash: text('short_hash'),
  previousSecretHash: text('previous_secret_hash'),
  previousValidUntil: timestamp('previous_valid_until', { withTimezone: true }),
  rules: jsonb('rules').$type<StoredRule[]>().notNull(),
  ipAllow: text('ip_allow').array().notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }),
  ttlSeconds: bigint('ttl_seconds', { mode: 'number' }).notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
});

export const invalidations = authzSchema.table('invalidations', {
  sequence: bigserial('sequence', { mode: 'number' }).primaryKey(),
  kind: text('kind').notNull(),
  tokenId: text('token_id'),
  accountId: text('account_id'),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  sourceKey: text('source_key'),
  grantId: text('grant_id'),
});

/** OAuth grants identity's provider ended (RevokeGrants); kept until their last access token expires. */
export const revokedGrants = authzSchema.table('revoked_grants', {
  grantId: text('grant_id').primaryKey(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }).notNull().defaultNow(),
});

export type TokenRow = typeof tokens.$inferSelect;
