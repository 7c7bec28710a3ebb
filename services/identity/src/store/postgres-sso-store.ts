import { and, eq, inArray } from 'drizzle-orm';
import { bigint, pgSchema, text } from 'drizzle-orm/pg-core';
import { isUniqueViolation, type Db } from '#libs/db/index.ts';
import { alreadyExists } from '#libs/errors/index.ts';
import type { SsoConnectionRecord, SsoStore } from '../domain/ports.ts';

const identity = pgSchema('identity');
const ms = (name: string) => bigint(name, { mode: 'number' });

const connections = identity.table('sso_connections', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull(),
  kind: text('kind').$type<'oidc' | 'saml'>().notNull(),
  name: text('name').notNull(),
  issuer: text('issuer').notNull(),
  clientId: text('client_id'),
  sealedClientSecret: text('sealed_client_secret'),
  samlEntryPoint: text('saml_entry_point'),
  samlIdpCert: text('saml_idp_cert'),
  defaultRole: text('default_role').$type<'admin' | 'member' | 'viewer'>().notNull(),
  provisioning: text('provisioning').$type<'invited' | 'jit'>().notNull(),
  createdAtMs: ms('created_at_ms').notNull(),
});

const links = identity.table('sso_links', {
  connectionId: text('connection_id').notNull(),
  upstreamSubject: text('upstream_subject').notNull(),
  userId: text('user_id').notNull(),
  createdAtMs: ms('created_at_ms').notNull(),
});

/** Upstream OIDC and SAML connections per account (client secret sealed by the caller) and the users linked through them. */
export class PostgresSsoStore implements SsoStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  async insert(connection: SsoConnectionRecord): Promise<void> {
    await this.#db.insert(connections).values(connection);
  }
  async get(id: string): Promise<SsoConnectionRecord | undefined> {
    const [row] = await this.#db.select().from(connections).where(eq(connections.id, id));
    return row;
  }
  async listByAccounts(accountIds: readonly string[]): Promise<SsoConnectionRecord[]> {
    if (accountIds.length === 0) return [];
    return this.#db.select().from(connections).where(inArray(connections.accountId, [...accountIds])).orderBy(connections.createdAtMs, connections.id);
  }
  async delete(id: string): Promise<boolean> {
    return (await this.#db.delete(connections).where(eq(connections.id, id)).returning({ id: connections.id })).length === 1;
  }
  async linkedUser(connectionId: string, upstreamSubject: string): Promise<string | undefined> {
    const [row] = await this.#db.select({ userId: links.userId }).from(links).where(and(eq(links.connectionId, connectionId), eq(links.upstreamSubject, upstreamSubject)));
    return row?.userId;
  }
  /** The upstream subject this user is linked to through the connection, if any. */
  async subjectOf(connectionId: string, userId: string): Promise<string | undefined> {
    const [row] = await this.#db.select({ subject: links.upstreamSubject }).from(links).where(and(eq(links.connectionId, connectionId), eq(links.userId, userId)));
    return row?.subject;
  }
  async link(connectionId: string, upstreamSubject: string, userId: string, atMs: number): Promise<void> {
    await this.#db
      .insert(links)
      .values({ connectionId, upstreamSubject, userId, createdAtMs: atMs })
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw alreadyExists('upstream_subject', 'a link of this subject or user through this connection');
        throw error;
      });
  }
}
