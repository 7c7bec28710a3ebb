/**
 * The identity domain's ports. The domain does no I/O and reads neither the clock nor a random
 * source itself: adapters in `../crypto/` and `../store/` implement these.
 */
import type { AuditEvent } from './audit-event.ts';
import type { AttemptState } from './login-throttle.ts';
import type { OAuthClient } from './oauth-client.ts';
import type { Permission } from './resource-access.ts';
import type { Role } from './roles.ts';
import type { TotpEnrollment } from './two-factor.ts';

/** The mesh's one clock port (libs/clock). */
export type { Clock } from '#libs/clock/index.ts';

/** Cryptographically secure random bytes (`NodeRandomSource` in production, a seeded fake in tests). */
export interface RandomSource {
  bytes(size: number): Uint8Array;
}

/** One-way digest for high-entropy secrets (refresh tokens, recovery codes): SHA-256, lower-case hex. */
export interface SecretDigest {
  sha256Hex(text: string): string;
}

/** Password hashing (argon2id). Slow by design: every call is async and CPU-bound. */
export interface PasswordHasher {
  /** A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). */
  hash(password: string): Promise<string>;
  /** False on a mismatch or on a malformed stored hash; never throws for a wrong password. */
  verify(phc: string, password: string): Promise<boolean>;
  /** True when `phc` was made with other parameters than the current ones (rehash on the next good login). */
  needsRehash(phc: string): boolean;
  /** Costs what a `verify` costs and always answers false: run it for unknown usernames. */
  verifyDummy(password: string): Promise<false>;
}

/**
 * Failed-attempt counters of the login throttle, by key (`login-throttle.ts` makes the keys).
 * Adapters: `PostgresThrottleStore`; `InMemoryThrottleStore` in test/doubles.
 */
export interface ThrottleStore {
  get(key: string): Promise<AttemptState | undefined>;
  /** Stores the state; undefined deletes the key. */
  put(key: string, state: AttemptState | undefined): Promise<void>;
  /**
   * Keys starting with `prefix` (taken literally: `%` and `_` are no wildcards), other than
   * `exceptKey`, that still hold something: a failure at or after `sinceMs` or a lockout running at `nowMs`.
   */
  countLive(prefix: string, exceptKey: string, sinceMs: number, nowMs: number): Promise<number>;
  /** Deletes `keys` and every key starting with one of `prefixes`; answers the deleted keys that held a lockout running at `nowMs`. */
  clear(keys: readonly string[], prefixes: readonly string[], nowMs: number): Promise<string[]>;
}

/** A page of the audit log: newest first; `before` is the last event of the previous page. */
export interface AuditFilter {
  /** Empty or undefined: every account (mesh services only). */
  accountIds?: readonly string[] | undefined;
  kind?: string | undefined;
  sinceMs?: number | undefined;
  before?: { atMs: number; id: string } | undefined;
  limit: number;
}

/**
 * The append-only audit log. Adapters: `PostgresAuditStore`; `InMemoryAuditStore` in test/doubles.
 */
export interface AuditStore {
  /** Appends; an event whose id is already stored is skipped (a retried batch is stored once). */
  append(events: readonly AuditEvent[]): Promise<void>;
  /** Newest first by time, then id: events of one millisecond are neither lost nor repeated across pages. */
  list(filter: AuditFilter): Promise<AuditEvent[]>;
}

/**
 * TOTP enrollments by user (the secret sealed at rest by the adapter). Adapters:
 * `PostgresTotpStore`; `InMemoryTotpStore` in test/doubles.
 */
export interface TotpStore {
  get(userId: string): Promise<TotpEnrollment | undefined>;
  /** Creates or replaces the user's enrollment. */
  put(userId: string, enrollment: TotpEnrollment): Promise<void>;
  /**
   * Moves an active enrollment from `before` to `after` (used time step, spent recovery codes) only
   * if it still is `before`: of two logins racing with one code, one passes (compare-and-set).
   */
  advance(userId: string, before: TotpEnrollment, after: TotpEnrollment): Promise<boolean>;
  delete(userId: string): Promise<void>;
  /** Which of these users have 2FA active (not merely pending). */
  activeAmong(userIds: readonly string[]): Promise<Set<string>>;
}

/**
 * Dataset-level resources: whether one is restricted, and who is granted what on it. Adapters:
 * `PostgresGrantStore`; `InMemoryGrantStore` in test/doubles.
 */
export interface GrantStore {
  /** False for a resource never marked. */
  restricted(accountId: string, resourceId: string): Promise<boolean>;
  setRestricted(accountId: string, resourceId: string, restricted: boolean): Promise<void>;
  /** Creates or replaces the user's permission on the resource. */
  grant(accountId: string, resourceId: string, userId: string, permission: Permission): Promise<void>;
  revoke(accountId: string, resourceId: string, userId: string): Promise<void>;
  /** Every grant on the resource, in no particular order. */
  list(accountId: string, resourceId: string): Promise<{ userId: string; permission: Permission }[]>;
}

export interface AccountRecord {
  id: string;
  name: string;
  parentId: string | undefined;
  depth: number;
  state: 'active' | 'suspended';
  requireTotp: boolean;
  requireSso: boolean;
  createdAtMs: number;
}

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  email: string | null;
  /** Oldest membership first. */
  memberships: { accountId: string; role: Role }[];
  createdAtMs: number;
}

export type AccountChange = { kind: 'suspended' | 'resumed' } | { kind: 'renamed'; name: string } | { kind: 'policy_changed'; requireTotp?: boolean | undefined; requireSso?: boolean | undefined };

/** One entry of the account change feed other services follow (WatchAccounts), in commit order. */
export interface AccountChangeEvent {
  sequence: number;
  kind: string;
  accountId: string;
  affected: string[];
}

/**
 * Accounts (a tree), users and their memberships, and the account change feed. Adapters:
 * `PostgresIdentityStore` (NOTIFYs feed followers at commit); `InMemoryIdentityStore` in test/doubles.
 */
/** Where a page of descendants ends: they are ordered by depth, then id. */
export interface AccountCursor {
  depth: number;
  id: string;
}

export interface IdentityStore {
  countAccounts(): Promise<number>;
  /** Inserts the account and appends its `created` change. The caller checks the parent and depth. */
  createAccount(input: { id: string; name: string; parentId: string | undefined; depth: number }): Promise<AccountRecord>;
  getAccount(id: string): Promise<AccountRecord | undefined>;
  /** Root first, the account itself last; empty when unknown. */
  accountPath(id: string): Promise<AccountRecord[]>;
  /** Every descendant (not the account itself) with an id after `afterId`, shallowest first, then by id. */
  /** Shallowest first, then by id; a page resumes after the (depth, id) of the last account of the previous one. */
  descendants(id: string, options?: { limit: number; after?: AccountCursor | undefined }): Promise<AccountRecord[]>;
  /** Applies the change and appends it to the feed with `affected`; its sequence, undefined for an unknown account. */
  changeAccount(id: string, change: AccountChange, affected: readonly string[]): Promise<number | undefined>;
  accountChangesSince(afterSequence: number, limit: number): Promise<AccountChangeEvent[]>;
  /** 0 while the feed is empty. */
  latestAccountChange(): Promise<number>;
  /** Users with a membership in any of these accounts, each counted once. */
  countUsersIn(accountIds: readonly string[]): Promise<number>;
  /** The user with one membership; ALREADY_EXISTS (field `username`) when the username is taken, in any letter case. */
  createUser(input: { id: string; username: string; passwordHash: string; accountId: string; role: Role; email?: string | null | undefined }): Promise<UserRecord>;
  getUser(id: string): Promise<UserRecord | undefined>;
  /** Case-insensitive. */
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  /** Direct members whose email is `email` (case-insensitively), or without an email and with `email` as username; at most 3. */
  findMembersByEmail(accountId: string, email: string): Promise<UserRecord[]>;
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
  countOwners(accountId: string): Promise<number>;
  removeMembership(userId: string, accountId: string): Promise<void>;
  /** Adds the membership or changes its role. */
  setMembership(userId: string, accountId: string, role: Role): Promise<void>;
  /** Direct members of the account with an id after `afterId`, by id. */
  listUsers(accountId: string, options: { limit: number; afterId?: string | undefined }): Promise<UserRecord[]>;
}

/** An upstream OIDC or SAML connection of an account; the OIDC client secret arrives sealed. */
export interface SsoConnectionRecord {
  id: string;
  accountId: string;
  kind: 'oidc' | 'saml';
  name: string;
  issuer: string;
  clientId: string | null;
  sealedClientSecret: string | null;
  samlEntryPoint: string | null;
  samlIdpCert: string | null;
  defaultRole: 'admin' | 'member' | 'viewer';
  provisioning: 'invited' | 'jit';
  createdAtMs: number;
}

/**
 * SSO connections per account and the users linked through them (one user per upstream subject,
 * one subject per user, per connection). Adapters: `PostgresSsoStore`; `InMemorySsoStore` in test/doubles.
 */
export interface SsoStore {
  insert(connection: SsoConnectionRecord): Promise<void>;
  get(id: string): Promise<SsoConnectionRecord | undefined>;
  /** Oldest first (then by id). */
  listByAccounts(accountIds: readonly string[]): Promise<SsoConnectionRecord[]>;
  /** Deletes the connection and its links; false when it was not there. */
  delete(id: string): Promise<boolean>;
  linkedUser(connectionId: string, upstreamSubject: string): Promise<string | undefined>;
  /** The upstream subject this user is linked to through the connection, if any. */
  subjectOf(connectionId: string, userId: string): Promise<string | undefined>;
  /** ALREADY_EXISTS when the subject, or the user, is already linked through this connection. */
  link(connectionId: string, upstreamSubject: string, userId: string, atMs: number): Promise<void>;
}

export type OAuthClientChange = Partial<Omit<OAuthClient, 'id' | 'accountId' | 'type' | 'createdAtMs'>> & { updatedAtMs: number };

/** Registered OAuth clients (the secret as its SHA-256 only). Adapters: `PostgresOAuthClientStore`; `InMemoryOAuthClientStore` in test/doubles. */
export interface OAuthClientStore {
  insert(client: OAuthClient): Promise<void>;
  get(id: string): Promise<OAuthClient | undefined>;
  /** Oldest first (then by id). */
  listByAccount(accountId: string): Promise<OAuthClient[]>;
  /** Sets the named fields; the client as it now is, undefined when unknown. */
  update(id: string, change: OAuthClientChange): Promise<OAuthClient | undefined>;
  /** False when it was not there. */
  delete(id: string): Promise<boolean>;
}
