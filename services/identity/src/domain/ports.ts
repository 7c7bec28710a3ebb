/**
 * The identity domain's ports. The domain does no I/O and reads neither the clock nor a random
 * source itself: adapters in `../crypto/` and `../store/` implement these.
 */
import type { AuditEvent } from './audit-event.ts';
import type { AttemptState } from './login-throttle.ts';

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
