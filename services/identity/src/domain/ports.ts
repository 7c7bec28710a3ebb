/**
 * The identity domain's ports. The domain does no I/O and reads neither the clock nor a random
 * source itself: adapters in `../crypto/` and `../store/` implement these.
 */
import type { AuditEvent } from './audit-event.ts';
import type { AttemptState } from './login-throttle.ts';
import type { Permission } from './resource-access.ts';
import type { TotpEnrollment } from './two-factor.ts';

export interface Clock {
  nowMs(): number;
}

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
