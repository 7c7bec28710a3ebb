import { alreadyExists } from '#libs/errors/index.ts';
import type { AccountChange, AccountChangeEvent, AccountCursor, AccountRecord, IdentityStore, UserRecord } from '../../src/domain/ports.ts';
import type { Role } from '../../src/domain/roles.ts';

interface StoredUser {
  id: string;
  username: string;
  passwordHash: string;
  email: string | null;
  createdAtMs: number;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * `IdentityStore` in maps, for unit tests and the contract suite. The change feed is kept but
 * wakes nobody (no NOTIFY in memory); foreign keys are checked as Postgres checks them.
 */
export class InMemoryIdentityStore implements IdentityStore {
  readonly #accounts = new Map<string, AccountRecord>();
  readonly #users = new Map<string, StoredUser>();
  /** In creation order (a user's memberships are listed oldest first). */
  readonly #memberships: { userId: string; accountId: string; role: Role }[] = [];
  readonly #changes: AccountChangeEvent[] = [];
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async countAccounts(): Promise<number> {
    return this.#accounts.size;
  }

  async createAccount(input: { id: string; name: string; parentId: string | undefined; depth: number }): Promise<AccountRecord> {
    if (this.#accounts.has(input.id)) throw alreadyExists('id', 'an account with this id');
    if (input.parentId !== undefined && !this.#accounts.has(input.parentId)) throw new Error(`parent account ${input.parentId} does not exist`);
    const account: AccountRecord = { id: input.id, name: input.name, parentId: input.parentId, depth: input.depth, state: 'active', requireTotp: false, requireSso: false, createdAtMs: this.#now() };
    this.#accounts.set(account.id, account);
    this.#append('created', account.id, [account.id]);
    return { ...account };
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const account = this.#accounts.get(id);
    return account && { ...account };
  }

  async accountPath(id: string): Promise<AccountRecord[]> {
    const path: AccountRecord[] = [];
    for (let at = this.#accounts.get(id); at; at = at.parentId === undefined ? undefined : this.#accounts.get(at.parentId)) path.unshift({ ...at });
    return path;
  }

  async descendants(id: string, options: { limit: number; after?: AccountCursor | undefined } = { limit: 10_000 }): Promise<AccountRecord[]> {
    const found: AccountRecord[] = [];
    const parents = new Set([id]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const a of this.#accounts.values()) {
        if (a.parentId !== undefined && parents.has(a.parentId) && !parents.has(a.id)) {
          parents.add(a.id);
          found.push(a);
          grew = true;
        }
      }
    }
    return found
      .filter((a) => !options.after || a.depth > options.after.depth || (a.depth === options.after.depth && a.id > options.after.id))
      .sort((a, b) => a.depth - b.depth || byId(a, b))
      .slice(0, options.limit)
      .map((a) => ({ ...a }));
  }

  async changeAccount(id: string, change: AccountChange, affected: readonly string[]): Promise<number | undefined> {
    const account = this.#accounts.get(id);
    if (!account) return undefined;
    if (change.kind === 'renamed') account.name = change.name;
    else if (change.kind === 'policy_changed') {
      if (change.requireTotp !== undefined) account.requireTotp = change.requireTotp;
      if (change.requireSso !== undefined) account.requireSso = change.requireSso;
    } else account.state = change.kind === 'suspended' ? 'suspended' : 'active';
    return this.#append(change.kind, id, affected);
  }

  async accountChangesSince(afterSequence: number, limit: number): Promise<AccountChangeEvent[]> {
    return this.#changes
      .filter((c) => c.sequence > afterSequence)
      .slice(0, limit)
      .map((c) => ({ ...c, affected: [...c.affected] }));
  }

  async latestAccountChange(): Promise<number> {
    return this.#changes.at(-1)?.sequence ?? 0;
  }

  async countUsersIn(accountIds: readonly string[]): Promise<number> {
    return new Set(this.#memberships.filter((m) => accountIds.includes(m.accountId)).map((m) => m.userId)).size;
  }

  async createUser(input: { id: string; username: string; passwordHash: string; accountId: string; role: Role; email?: string | null | undefined }): Promise<UserRecord> {
    if (this.#users.has(input.id) || (await this.findUserByUsername(input.username))) throw alreadyExists('username', 'a user with this username');
    if (!this.#accounts.has(input.accountId)) throw new Error(`account ${input.accountId} does not exist`);
    this.#users.set(input.id, { id: input.id, username: input.username, passwordHash: input.passwordHash, email: input.email ?? null, createdAtMs: this.#now() });
    this.#memberships.push({ userId: input.id, accountId: input.accountId, role: input.role });
    return (await this.getUser(input.id))!;
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const user = this.#users.get(id);
    return user && this.#withMemberships(user);
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const key = username.toLowerCase();
    for (const user of this.#users.values()) if (user.username.toLowerCase() === key) return this.#withMemberships(user);
    return undefined;
  }

  async findMembersByEmail(accountId: string, email: string): Promise<UserRecord[]> {
    const key = email.toLowerCase();
    return this.#members(accountId)
      .filter((u) => (u.email !== null ? u.email.toLowerCase() === key : u.username.toLowerCase() === key))
      .slice(0, 3)
      .map((u) => this.#withMemberships(u));
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    const user = this.#users.get(userId);
    if (user) user.passwordHash = passwordHash;
  }

  async countOwners(accountId: string): Promise<number> {
    return this.#memberships.filter((m) => m.accountId === accountId && m.role === 'owner').length;
  }

  async removeMembership(userId: string, accountId: string): Promise<void> {
    const at = this.#memberships.findIndex((m) => m.userId === userId && m.accountId === accountId);
    if (at >= 0) this.#memberships.splice(at, 1);
  }

  async setMembership(userId: string, accountId: string, role: Role): Promise<void> {
    const existing = this.#memberships.find((m) => m.userId === userId && m.accountId === accountId);
    if (existing) {
      existing.role = role;
      return;
    }
    if (!this.#users.has(userId) || !this.#accounts.has(accountId)) throw new Error('membership of an unknown user or account');
    this.#memberships.push({ userId, accountId, role });
  }

  async listUsers(accountId: string, options: { limit: number; afterId?: string | undefined }): Promise<UserRecord[]> {
    return this.#members(accountId)
      .filter((u) => !options.afterId || u.id > options.afterId)
      .sort(byId)
      .slice(0, options.limit)
      .map((u) => this.#withMemberships(u));
  }

  #members(accountId: string): StoredUser[] {
    return this.#memberships.filter((m) => m.accountId === accountId).map((m) => this.#users.get(m.userId)!);
  }

  #withMemberships(user: StoredUser): UserRecord {
    return { ...user, memberships: this.#memberships.filter((m) => m.userId === user.id).map((m) => ({ accountId: m.accountId, role: m.role })) };
  }

  #append(kind: string, accountId: string, affected: readonly string[]): number {
    const sequence = (this.#changes.at(-1)?.sequence ?? 0) + 1;
    this.#changes.push({ sequence, kind, accountId, affected: [...affected] });
    return sequence;
  }
}
