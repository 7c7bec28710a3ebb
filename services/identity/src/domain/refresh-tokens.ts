/**
 * Refresh tokens: one *family* per login; every use rotates (the presented token is spent and a
 * new one of the same family issued). Presenting a spent token again means two parties hold it —
 * the legitimate client and a thief — so the whole family is revoked (reuse detection, OAuth 2.0
 * Security BCP §4.14.2). Logout revokes the family.
 *
 * Tokens are 32 random bytes (`rt_` + base64url); only their SHA-256 is stored.
 */
import type { Clock, RandomSource, SecretDigest } from './ports.ts';
import { bytesToBase64Url } from './encoding.ts';

export interface RefreshTokenFamily {
  id: string;
  userId: string;
  accountId: string;
  createdAtMs: number;
  /** No token of the family is honoured after this, however often it rotates. */
  absoluteExpiresAtMs: number;
  revokedAtMs: number | null;
  revokeReason: RevokeReason | null;
}

export type RevokeReason = 'logout' | 'reuse_detected' | 'admin' | 'password_changed';

export interface RefreshTokenRecord {
  /** SHA-256 hex of the token: the primary key. */
  tokenHash: string;
  familyId: string;
  /** Account the access token minted from it is for (changes when switching accounts). */
  accountId: string;
  issuedAtMs: number;
  expiresAtMs: number;
  usedAtMs: number | null;
}

/** Port. `markUsed` must be an atomic compare-and-set so two concurrent refreshes cannot both win. */
export interface RefreshTokenStore {
  createFamily(family: RefreshTokenFamily): Promise<void>;
  getFamily(familyId: string): Promise<RefreshTokenFamily | undefined>;
  insertToken(token: RefreshTokenRecord): Promise<void>;
  findToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /** Sets `usedAtMs` only if it is still null; true when this call spent it. */
  markUsed(tokenHash: string, usedAtMs: number): Promise<boolean>;
  /** Revokes if not yet revoked; true when this call revoked it. */
  revokeFamily(familyId: string, atMs: number, reason: RevokeReason): Promise<boolean>;
  /** Revokes every live family of a user (password change, admin action); returns the ids revoked. */
  revokeFamiliesOfUser(userId: string, atMs: number, reason: RevokeReason): Promise<string[]>;
}

export interface RefreshTokenPolicy {
  /** Lifetime of one token (idle timeout of the session). */
  tokenTtlMs: number;
  /** Lifetime of the family (re-login needed after this). */
  familyTtlMs: number;
}

export const defaultRefreshTokenPolicy: RefreshTokenPolicy = Object.freeze({ tokenTtlMs: 14 * 86_400_000, familyTtlMs: 30 * 86_400_000 });

export interface IssuedRefreshToken {
  /** The secret: shown to the client once, never stored. */
  token: string;
  familyId: string;
  userId: string;
  accountId: string;
  expiresAtMs: number;
}

export type RotateOutcome =
  | { ok: true; issued: IssuedRefreshToken }
  | { ok: false; reason: 'UNKNOWN_TOKEN' | 'EXPIRED' | 'FAMILY_REVOKED' }
  | { ok: false; reason: 'REUSE_DETECTED'; familyId: string; userId: string };

const TOKEN_PREFIX = 'rt_';
const TOKEN_BYTES = 32;

export interface RefreshTokenServiceDeps {
  store: RefreshTokenStore;
  clock: Clock;
  random: RandomSource;
  digest: SecretDigest;
  policy?: RefreshTokenPolicy;
}

export class RefreshTokenService {
  readonly #store: RefreshTokenStore;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #digest: SecretDigest;
  readonly #policy: RefreshTokenPolicy;

  constructor(deps: RefreshTokenServiceDeps) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#digest = deps.digest;
    this.#policy = deps.policy ?? defaultRefreshTokenPolicy;
  }

  /** A new family (at login). */
  async startFamily(userId: string, accountId: string): Promise<IssuedRefreshToken> {
    const nowMs = this.#clock.nowMs();
    const family: RefreshTokenFamily = {
      id: `rtf_${bytesToBase64Url(this.#random.bytes(16))}`,
      userId,
      accountId,
      createdAtMs: nowMs,
      absoluteExpiresAtMs: nowMs + this.#policy.familyTtlMs,
      revokedAtMs: null,
      revokeReason: null,
    };
    await this.#store.createFamily(family);
    return this.#issue(family, accountId, nowMs);
  }

  /**
   * Spends `token` and issues its successor. `switchToAccountId` re-targets the session; the caller
   * must first check that the user belongs to that account.
   */
  async rotate(token: string, options: { switchToAccountId?: string } = {}): Promise<RotateOutcome> {
    const nowMs = this.#clock.nowMs();
    const record = await this.#find(token);
    if (record === undefined) return { ok: false, reason: 'UNKNOWN_TOKEN' };
    const family = await this.#store.getFamily(record.familyId);
    if (family === undefined) return { ok: false, reason: 'UNKNOWN_TOKEN' };
    if (record.usedAtMs !== null) return this.#reuse(family, nowMs);
    if (family.revokedAtMs !== null) return { ok: false, reason: 'FAMILY_REVOKED' };
    if (nowMs >= record.expiresAtMs || nowMs >= family.absoluteExpiresAtMs) return { ok: false, reason: 'EXPIRED' };
    // Lost the race with a concurrent refresh of the same token: that is reuse too.
    if (!(await this.#store.markUsed(record.tokenHash, nowMs))) return this.#reuse(family, nowMs);
    return { ok: true, issued: await this.#issue(family, options.switchToAccountId ?? record.accountId, nowMs) };
  }

  /** Logout: revokes the family of `token`. Unknown tokens are ignored (logout is idempotent). */
  async revokeFamilyOf(token: string, reason: RevokeReason = 'logout'): Promise<{ familyId: string; revoked: boolean } | undefined> {
    const record = await this.#find(token);
    if (record === undefined) return undefined;
    return { familyId: record.familyId, revoked: await this.#store.revokeFamily(record.familyId, this.#clock.nowMs(), reason) };
  }

  revokeAllOfUser(userId: string, reason: RevokeReason): Promise<string[]> {
    return this.#store.revokeFamiliesOfUser(userId, this.#clock.nowMs(), reason);
  }

  hashToken(token: string): string {
    return this.#digest.sha256Hex(token);
  }

  #find(token: string): Promise<RefreshTokenRecord | undefined> {
    // Cheap shape check before hashing; a malformed string cannot be one of ours.
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 64) return Promise.resolve(undefined);
    return this.#store.findToken(this.hashToken(token));
  }

  async #reuse(family: RefreshTokenFamily, nowMs: number): Promise<RotateOutcome> {
    await this.#store.revokeFamily(family.id, nowMs, 'reuse_detected');
    return { ok: false, reason: 'REUSE_DETECTED', familyId: family.id, userId: family.userId };
  }

  async #issue(family: RefreshTokenFamily, accountId: string, nowMs: number): Promise<IssuedRefreshToken> {
    const token = TOKEN_PREFIX + bytesToBase64Url(this.#random.bytes(TOKEN_BYTES));
    const expiresAtMs = Math.min(nowMs + this.#policy.tokenTtlMs, family.absoluteExpiresAtMs);
    await this.#store.insertToken({ tokenHash: this.hashToken(token), familyId: family.id, accountId, issuedAtMs: nowMs, expiresAtMs, usedAtMs: null });
    return { token, familyId: family.id, userId: family.userId, accountId, expiresAtMs };
  }
}
