import { and, asc, eq, gt, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '#libs/db/index.ts';
import { isUniqueViolation, rowsOf } from '#libs/db/index.ts';
import { alreadyExists } from '#libs/errors/index.ts';
import type { AccountChange, AccountChangeEvent, AccountCursor, AccountRecord, IdentityStore, UserRecord } from '../domain/ports.ts';
import type { Role } from '../domain/roles.ts';
import { accounts, memberships, users, type AccountRow, type UserRow } from './schema.ts';

const toAccount = (r: AccountRow): AccountRecord => ({
  id: r.id,
  name: r.name,
  parentId: r.parentId ?? undefined,
  depth: r.depth,
  state: r.state,
  requireTotp: r.requireTotp,
  requireSso: r.requireSso,
  createdAtMs: r.createdAt.getTime(),
});

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Appends to `identity.account_changes` and wakes every WatchAccounts stream (NOTIFY is sent at commit). */
async function appendChange(tx: Tx, kind: string, accountId: string, affected: readonly string[]): Promise<number> {
  const rows = rowsOf(
    await tx.execute(
      sql`insert into identity.account_changes (kind, account_id, affected_account_ids)
          values (${kind}, ${accountId}, array(select jsonb_array_elements_text(${JSON.stringify(affected)}::jsonb)))
          returning sequence`,
    ),
  );
  const sequence = Number(rows[0]!.sequence);
  await tx.execute(sql`select pg_notify('tollgate_identity_accounts', ${String(sequence)})`);
  return sequence;
}

/** Accounts, users and memberships in the `identity` schema (Postgres or PGlite). */
export class PostgresIdentityStore implements IdentityStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async countAccounts(): Promise<number> {
    const rows = rowsOf(await this.db.execute(sql`select count(*)::int as n from identity.accounts`));
    return Number(rows[0]?.n ?? 0);
  }

  /** Inserts the account and its `created` change (NOTIFYing feed followers) in one transaction. */
  async createAccount(input: { id: string; name: string; parentId: string | undefined; depth: number }): Promise<AccountRecord> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(accounts)
        .values({ id: input.id, name: input.name, parentId: input.parentId ?? null, depth: input.depth, state: 'active', requireTotp: false, requireSso: false })
        .returning();
      await appendChange(tx, 'created', input.id, [input.id]);
      return toAccount(row!);
    });
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const [row] = await this.db.select().from(accounts).where(eq(accounts.id, id));
    return row ? toAccount(row) : undefined;
  }

  /** Root first, the account itself last. */
  async accountPath(id: string): Promise<AccountRecord[]> {
    const rows = rowsOf(
      await this.db.execute(sql`
        with recursive path as (
          select a.*, 0 as hop from identity.accounts a where a.id = ${id}
          union all
          select p.*, path.hop + 1 from identity.accounts p join path on p.id = path.parent_id
        )
        select id from path order by hop desc`),
    );
    const ids = rows.map((r) => String(r.id));
    if (ids.length === 0) return [];
    const found = await this.db.select().from(accounts).where(inArray(accounts.id, ids));
    const byId = new Map(found.map((r) => [r.id, toAccount(r)]));
    return ids.map((i) => byId.get(i)!).filter(Boolean);
  }

  /** Every descendant of an account (not the account itself), shallowest first. */
  async descendants(id: string, options: { limit: number; after?: AccountCursor | undefined } = { limit: 10_000 }): Promise<AccountRecord[]> {
    const rows = rowsOf(
      await this.db.execute(sql`
        with recursive sub as (
          select a.id from identity.accounts a where a.parent_id = ${id}
          union all
          select c.id from identity.accounts c join sub on c.parent_id = sub.id
        )
        select id from sub`),
    );
    const ids = rows.map((r) => String(r.id));
    if (ids.length === 0) return [];
    const found = await this.db
      .select()
      .from(accounts)
      .where(and(inArray(accounts.id, ids), options.after ? or(gt(accounts.depth, options.after.depth), and(eq(accounts.depth, options.after.depth), gt(accounts.id, options.after.id))) : undefined))
      .orderBy(asc(accounts.depth), asc(accounts.id))
      .limit(options.limit);
    return found.map(toAccount);
  }

  /** Sets the state, name or 2FA policy and appends to the change feed, NOTIFYing in the same transaction. */
  async changeAccount(
    id: string,
    change: AccountChange,
    affected: readonly string[],
  ): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      const updatedAt = new Date();
      const set =
        change.kind === 'renamed'
          ? { name: change.name, updatedAt }
          : change.kind === 'policy_changed'
            ? { ...(change.requireTotp === undefined ? {} : { requireTotp: change.requireTotp }), ...(change.requireSso === undefined ? {} : { requireSso: change.requireSso }), updatedAt }
            : { state: (change.kind === 'suspended' ? 'suspended' : 'active') as 'active' | 'suspended', updatedAt };
      const updated = await tx.update(accounts).set(set).where(eq(accounts.id, id)).returning({ id: accounts.id });
      if (updated.length === 0) return undefined;
      return appendChange(tx, change.kind, id, affected);
    });
  }

  async accountChangesSince(afterSequence: number, limit: number): Promise<AccountChangeEvent[]> {
    const rows = rowsOf(await this.db.execute(sql`select sequence, kind, account_id, affected_account_ids from identity.account_changes where sequence > ${afterSequence} order by sequence limit ${limit}`));
    return rows.map((r) => ({ sequence: Number(r.sequence), kind: String(r.kind), accountId: String(r.account_id), affected: (r.affected_account_ids as string[]) ?? [] }));
  }

  async latestAccountChange(): Promise<number> {
    const rows = rowsOf(await this.db.execute(sql`select coalesce(max(sequence), 0)::bigint as s from identity.account_changes`));
    return Number(rows[0]?.s ?? 0);
  }

  /** Users with a membership anywhere in these accounts (each counted once). */
  async countUsersIn(accountIds: readonly string[]): Promise<number> {
    if (accountIds.length === 0) return 0;
    const rows = rowsOf(await this.db.execute(sql`select count(distinct user_id)::int as n from identity.memberships where account_id in (${sql.join(accountIds.map((id) => sql`${id}`), sql`, `)})`));
    return Number(rows[0]?.n ?? 0);
  }

  async createUser(input: { id: string; username: string; passwordHash: string; accountId: string; role: Role; email?: string | null | undefined }): Promise<UserRecord> {
    try {
      await this.db.transaction(async (tx) => {
        await tx.insert(users).values({ id: input.id, username: input.username, usernameKey: input.username.toLowerCase(), passwordHash: input.passwordHash, email: input.email ?? null });
        await tx.insert(memberships).values({ userId: input.id, accountId: input.accountId, role: input.role });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw alreadyExists('username', 'a user with this username');
      throw error;
    }
    return (await this.getUser(input.id))!;
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row ? this.withMemberships(row) : undefined;
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.usernameKey, username.toLowerCase()));
    return row ? this.withMemberships(row) : undefined;
  }

  /**
   * Direct members of the account whose email is `email` (case-insensitively); a user without an
   * email counts by a username that is this email address.
   */
  async findMembersByEmail(accountId: string, email: string): Promise<UserRecord[]> {
    const key = email.toLowerCase();
    const rows = await this.db
      .select({ user: users })
      .from(users)
      .innerJoin(memberships, eq(memberships.userId, users.id))
      .where(and(eq(memberships.accountId, accountId), sql`(lower(${users.email}) = ${key} or (${users.email} is null and ${users.usernameKey} = ${key}))`))
      .limit(3);
    return Promise.all(rows.map((r) => this.withMemberships(r.user)));
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
  }

  async countOwners(accountId: string): Promise<number> {
    const rows = await this.db.select({ userId: memberships.userId }).from(memberships).where(and(eq(memberships.accountId, accountId), eq(memberships.role, 'owner')));
    return rows.length;
  }

  async removeMembership(userId: string, accountId: string): Promise<void> {
    await this.db.delete(memberships).where(and(eq(memberships.userId, userId), eq(memberships.accountId, accountId)));
  }

  async setMembership(userId: string, accountId: string, role: Role): Promise<void> {
    await this.db
      .insert(memberships)
      .values({ userId, accountId, role })
      .onConflictDoUpdate({ target: [memberships.userId, memberships.accountId], set: { role } });
  }

  async listUsers(accountId: string, options: { limit: number; afterId?: string | undefined }): Promise<UserRecord[]> {
    const rows = await this.db
      .select({ user: users })
      .from(users)
      .innerJoin(memberships, eq(memberships.userId, users.id))
      .where(and(eq(memberships.accountId, accountId), options.afterId ? gt(users.id, options.afterId) : undefined))
      .orderBy(asc(users.id))
      .limit(options.limit);
    return Promise.all(rows.map((r) => this.withMemberships(r.user)));
  }

  private async withMemberships(row: UserRow): Promise<UserRecord> {
    const ms = await this.db.select().from(memberships).where(eq(memberships.userId, row.id)).orderBy(asc(memberships.createdAt));
    return {
      id: row.id,
      username: row.username,
      passwordHash: row.passwordHash,
      email: row.email,
      memberships: ms.map((m) => ({ accountId: m.accountId, role: m.role })),
      createdAtMs: row.createdAt.getTime(),
    };
  }
}
