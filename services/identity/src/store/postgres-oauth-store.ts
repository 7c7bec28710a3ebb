import { and, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import { bigint, boolean, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import type { Db } from '#libs/db/index.ts';
import type { AclRule, IdTokenAlg, OAuthClient, OAuthClientType } from '../domain/oauth-client.ts';
import type { Clock, OAuthClientChange, OAuthClientStore } from '../domain/ports.ts';

const identity = pgSchema('identity');
const ms = (name: string) => bigint(name, { mode: 'number' });

const payloads = identity.table('oauth_payloads', {
  model: text('model').notNull(),
  id: text('id').notNull(),
  payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
  grantId: text('grant_id'),
  uid: text('uid'),
  userCode: text('user_code'),
  expiresAt: timestamp('expires_at', { withTimezone: true }),
  consumedAt: timestamp('consumed_at', { withTimezone: true }),
});

const clients = identity.table('oauth_clients', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull(),
  name: text('name').notNull(),
  type: text('client_type').$type<OAuthClientType>().notNull(),
  secretHash: text('secret_hash'),
  redirectUris: jsonb('redirect_uris').$type<string[]>().notNull(),
  postLogoutRedirectUris: jsonb('post_logout_redirect_uris').$type<string[]>().notNull(),
  scopes: jsonb('scopes').$type<string[]>().notNull(),
  aclRules: jsonb('acl_rules').$type<AclRule[] | null>(),
  aclTokenId: text('acl_token_id'),
  firstParty: boolean('first_party').notNull(),
  idTokenAlg: text('id_token_alg').$type<IdTokenAlg>().notNull(),
  disabled: boolean('disabled').notNull(),
  createdAtMs: ms('created_at_ms').notNull(),
  updatedAtMs: ms('updated_at_ms').notNull(),
});

/** What oidc-provider keeps per model (sessions, grants, codes, opaque tokens…). */
export type OidcPayload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };

/**
 * oidc-provider's storage port over `identity.oauth_payloads`: one row per (model, id). Expiry is
 * enforced on read (a row past `expires_at` is not found even before the purge deletes it), and
 * `consumed_at` marks a spent authorization code or rotated refresh token — the library revokes
 * the whole grant when a consumed one comes back (reuse detection).
 */
export class PostgresOidcAdapter {
  readonly #db: Db;
  readonly #model: string;
  readonly #clock: Clock;
  readonly #afterDestroy: ((id: string) => Promise<void>) | undefined;
  /** The reads of every token request, introspection and page: SQL built once, a named statement per connection. */
  readonly #finds;
  /** `afterDestroy`: told once a row of this model is gone (identity tells authz when a Grant ends). */
  constructor(db: Db, model: string, clock: Clock, afterDestroy?: (id: string) => Promise<void>) {
    this.#db = db;
    this.#model = model;
    this.#clock = clock;
    this.#afterDestroy = afterDestroy;
    const find = (column: typeof payloads.id | typeof payloads.uid | typeof payloads.userCode, name: string) =>
      db
        .select({ payload: payloads.payload, consumedAt: payloads.consumedAt })
        .from(payloads)
        .where(and(eq(payloads.model, sql.placeholder('model')), eq(column, sql.placeholder('key')), or(isNull(payloads.expiresAt), gt(payloads.expiresAt, sql.placeholder('now')))))
        .prepare(`identity_oidc_find_by_${name}`);
    this.#finds = { id: find(payloads.id, 'id'), uid: find(payloads.uid, 'uid'), userCode: find(payloads.userCode, 'user_code') };
  }

  async upsert(id: string, payload: OidcPayload, expiresInSeconds?: number): Promise<void> {
    const row = {
      model: this.#model,
      id,
      payload,
      grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
      expiresAt: typeof expiresInSeconds === 'number' ? new Date(this.#clock.nowMs() + expiresInSeconds * 1000) : null,
      consumedAt: null,
    };
    await this.#db
      .insert(payloads)
      .values(row)
      .onConflictDoUpdate({ target: [payloads.model, payloads.id], set: { payload: row.payload, grantId: row.grantId, uid: row.uid, userCode: row.userCode, expiresAt: row.expiresAt } });
  }

  async find(id: string): Promise<OidcPayload | undefined> {
    return this.#findBy('id', id);
  }

  async findByUid(uid: string): Promise<OidcPayload | undefined> {
    return this.#findBy('uid', uid);
  }

  async findByUserCode(userCode: string): Promise<OidcPayload | undefined> {
    return this.#findBy('userCode', userCode);
  }

  async consume(id: string): Promise<void> {
    await this.#db
      .update(payloads)
      .set({ consumedAt: new Date(this.#clock.nowMs()) })
      .where(and(eq(payloads.model, this.#model), eq(payloads.id, id)));
  }

  async destroy(id: string): Promise<void> {
    await this.#db.delete(payloads).where(and(eq(payloads.model, this.#model), eq(payloads.id, id)));
    await this.#afterDestroy?.(id);
  }

  /** Every artefact of a grant, whatever its model (a reused refresh token ends its whole family). */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db.delete(payloads).where(eq(payloads.grantId, grantId));
  }

  async #findBy(column: 'id' | 'uid' | 'userCode', key: string): Promise<OidcPayload | undefined> {
    const rows = (await this.#finds[column].execute({ model: this.#model, key, now: new Date(this.#clock.nowMs()).toISOString() })) as { payload: Record<string, unknown>; consumedAt: Date | null }[];
    const row = rows[0];
    if (!row) return undefined;
    return row.consumedAt ? { ...row.payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : row.payload;
  }
}

/** The grants among deleted rows: a Grant itself, or what a token or code was issued from. */
function endedGrants(rows: { model: string; id: string; grantId: string | null }[]): string[] {
  return [...new Set(rows.map((r) => (r.model === 'Grant' ? r.id : r.grantId)).filter((id): id is string => typeof id === 'string'))];
}

/** Housekeeping across models: expired rows, and everything a deleted or disabled client holds. */
export class PostgresOidcPayloads {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  /** Records a one-time value (a SAML request id); false when it was already used. Expires like any payload. */
  async claimOnce(model: string, id: string, expiresAtMs: number): Promise<boolean> {
    const rows = await this.#db
      .insert(payloads)
      .values({ model, id, payload: {}, grantId: null, uid: null, userCode: null, expiresAt: new Date(expiresAtMs), consumedAt: null })
      .onConflictDoNothing()
      .returning({ id: payloads.id });
    return rows.length === 1;
  }
  async purgeExpired(nowMs: number): Promise<number> {
    const rows = await this.#db.delete(payloads).where(lte(payloads.expiresAt, new Date(nowMs))).returning({ id: payloads.id });
    return rows.length;
  }
  /** A user's provider sessions, grants, codes and tokens (a changed password ends them all); answers the grant ids that ended. */
  async revokeUser(userId: string): Promise<string[]> {
    return endedGrants(await this.#db.delete(payloads).where(sql`${payloads.payload}->>'accountId' = ${userId}`).returning({ model: payloads.model, id: payloads.id, grantId: payloads.grantId }));
  }
  /** Grants, codes and opaque tokens issued to a client (its sessions stay: they belong to users); answers the grant ids that ended. */
  async revokeClient(clientId: string): Promise<string[]> {
    return endedGrants(await this.#db.delete(payloads).where(sql`${payloads.payload}->>'clientId' = ${clientId}`).returning({ model: payloads.model, id: payloads.id, grantId: payloads.grantId }));
  }
}

/** Registered OAuth clients; the secret is stored as its SHA-256 only. */
export class PostgresOAuthClientStore implements OAuthClientStore {
  readonly #db: Db;
  readonly #changed: ((id: string) => void) | undefined;
  readonly #channel: string | undefined;
  readonly #byId;
  /**
   * `changed`: told once an update or delete has committed (this process's client cache drops the
   * client); other processes hear it from the NOTIFY on `channel` sent in the same transaction.
   */
  constructor(db: Db, options: { changed?: (id: string) => void; channel?: string } = {}) {
    this.#db = db;
    this.#changed = options.changed;
    this.#channel = options.channel;
    // The hot read (every request that names a client): SQL built once, a named statement per connection.
    this.#byId = db.select().from(clients).where(eq(clients.id, sql.placeholder('id'))).prepare('identity_oauth_client_by_id');
  }
  async insert(client: OAuthClient): Promise<void> {
    await this.#db.insert(clients).values({ ...client });
  }
  async get(id: string): Promise<OAuthClient | undefined> {
    const [row] = (await this.#byId.execute({ id })) as (typeof clients.$inferSelect)[];
    return row ? { ...row, aclRules: row.aclRules ?? null, aclTokenId: row.aclTokenId ?? null } : undefined;
  }
  async listByAccount(accountId: string): Promise<OAuthClient[]> {
    const rows = await this.#db.select().from(clients).where(eq(clients.accountId, accountId)).orderBy(clients.createdAtMs, clients.id);
    return rows.map((row) => ({ ...row, aclRules: row.aclRules ?? null, aclTokenId: row.aclTokenId ?? null }));
  }
  async update(id: string, change: OAuthClientChange): Promise<OAuthClient | undefined> {
    const [row] = await this.#announced(id, (tx) => tx.update(clients).set(change).where(eq(clients.id, id)).returning());
    return row ? { ...row, aclRules: row.aclRules ?? null, aclTokenId: row.aclTokenId ?? null } : undefined;
  }
  async delete(id: string): Promise<boolean> {
    const rows = await this.#announced(id, (tx) => tx.delete(clients).where(eq(clients.id, id)).returning({ id: clients.id }));
    return rows.length === 1;
  }
  /** A write and its NOTIFY commit together; then this process is told. */
  async #announced<T>(id: string, write: (tx: Db) => Promise<T>): Promise<T> {
    const channel = this.#channel;
    try {
      return channel
        ? await this.#db.transaction(async (tx) => {
            const result = await write(tx as unknown as Db);
            await tx.execute(sql`select pg_notify(${channel}, ${id})`);
            return result;
          })
        : await write(this.#db);
    } finally {
      // Also after a failed write: the row may have changed (a commit whose answer was lost).
      this.#changed?.(id);
    }
  }
}
