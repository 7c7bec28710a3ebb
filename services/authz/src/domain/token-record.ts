/**
 * A stored API token as the authz domain sees it, the port that keeps them, and the checks that
 * decide whether a presented token may be used at all (before any ACL rule is looked at).
 */
import type { TokenKind } from './token-kind.ts';

export { tokenKinds, type TokenKind } from './token-kind.ts';

export interface TokenRule {
  effect: 'allow' | 'deny';
  actions: string[];
  resources: string[];
}

export interface TokenRecord {
  id: string;
  accountId: string;
  name: string;
  kind: TokenKind;
  rules: TokenRule[];
  ipAllow: string[];
  expiresAtMs: number | undefined;
  ttlSeconds: number;
  shortForm: boolean;
  createdBy: string;
  createdAtMs: number;
  revokedAtMs: number | undefined;
  lastUsedAtMs: number | undefined;
}

export interface NewToken {
  id: string;
  accountId: string;
  name: string;
  kind: TokenKind;
  rules: TokenRule[];
  ipAllow: string[];
  expiresAtMs: number | undefined;
  ttlSeconds: number;
  secretHash: string;
  shortHash: string | undefined;
  createdBy: string;
}

export interface TokenPatch {
  name?: string | undefined;
  rules?: TokenRule[] | undefined;
  ipAllow?: string[] | undefined;
  /** null clears the expiry. */
  expiresAtMs?: number | null | undefined;
  ttlSeconds?: number | undefined;
}

export interface TokenStore {
  create(token: NewToken): Promise<TokenRecord>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Live (not revoked, not expired) tokens in these accounts. */
  countLive(accountIds: readonly string[], nowMs: number): Promise<number>;
  /** SHA-256 of the token's short form, when it was created with one. */
  getShortHash(id: string): Promise<string | undefined>;
  /** By the SHA-256 of the full secret (current, or previous within its rotation grace). */
  findBySecretHash(hash: string, nowMs: number): Promise<TokenRecord | undefined>;
  list(accountIds: readonly string[], options: { includeRevoked: boolean; limit: number; afterId?: string | undefined }): Promise<TokenRecord[]>;
  /** Replaces the named fields and appends TOKEN_UPDATED to the feed; undefined if unknown. */
  update(id: string, patch: TokenPatch, nowMs: number): Promise<TokenRecord | undefined>;
  /** New secret; the old one stays valid until `graceUntilMs` (revoked at once when undefined). */
  rotate(id: string, secretHash: string, shortHash: string | undefined, graceUntilMs: number | undefined, nowMs: number): Promise<TokenRecord | undefined>;
  /** Marks revoked (idempotent) and appends to the invalidation feed; returns the token, undefined if unknown. */
  revoke(id: string, nowMs: number): Promise<TokenRecord | undefined>;
  /** Appends ACCOUNT_SUSPENDED once per `sourceKey` (identity's event), whichever replica is first. */
  recordAccountSuspended(accountId: string, sourceKey: string): Promise<void>;
  /** Records OAuth grants as revoked until `expiresAtMs`; GRANT_REVOKED on the feed for each one not already revoked. */
  revokeGrants(grantIds: readonly string[], expiresAtMs: number, nowMs: number): Promise<void>;
  /** Whether an access token from this grant is refused (a record past its expiry no longer counts). */
  isGrantRevoked(grantId: string, nowMs: number): Promise<boolean>;
  invalidationsSince(afterSequence: number, limit: number): Promise<InvalidationEvent[]>;
  oldestInvalidationSequence(): Promise<number | undefined>;
  latestInvalidationSequence(): Promise<number>;
  /** Appends a TOKEN_EXPIRED event for every token whose absolute expiry has passed (once each). */
  recordExpiries(nowMs: number): Promise<number>;
  /** Records use for sliding TTLs (batched by the caller: not one write per check). */
  touch(ids: readonly string[], nowMs: number): Promise<void>;
}

export type InvalidationKind = 'TOKEN_REVOKED' | 'TOKEN_UPDATED' | 'TOKEN_EXPIRED' | 'ACCOUNT_SUSPENDED' | 'GRANT_REVOKED' | 'RESET';

/** One entry of the revocation feed, in commit order. */
export interface InvalidationEvent {
  sequence: number;
  kind: InvalidationKind;
  tokenId: string | undefined;
  accountId: string | undefined;
  /** GRANT_REVOKED: the OAuth grant (`grt_…`) whose access tokens end. */
  grantId?: string | undefined;
}

export type TokenUsability =
  | { usable: true }
  | { usable: false; reason: 'TOKEN_REVOKED' | 'TOKEN_EXPIRED' | 'IP_NOT_ALLOWED' };

const USABLE: TokenUsability = Object.freeze({ usable: true });

/** Revoked, expired (absolute or sliding TTL) or outside its IP allow-list (`ipAllowed`: the caller's answer for this address), in that order. */
export function checkTokenUsable(token: TokenRecord, nowMs: number, ipAllowed: boolean): TokenUsability {
  if (token.revokedAtMs !== undefined && token.revokedAtMs <= nowMs) return { usable: false, reason: 'TOKEN_REVOKED' };
  if (token.expiresAtMs !== undefined && token.expiresAtMs <= nowMs) return { usable: false, reason: 'TOKEN_EXPIRED' };
  if (token.ttlSeconds > 0) {
    const lastUse = token.lastUsedAtMs ?? token.createdAtMs;
    if (lastUse + token.ttlSeconds * 1000 <= nowMs) return { usable: false, reason: 'TOKEN_EXPIRED' };
  }
  if (!ipAllowed) return { usable: false, reason: 'IP_NOT_ALLOWED' };
  return USABLE;
}

/** How long a decision about this token may be cached: the default, never past its expiry. */
export function decisionTtlMs(token: TokenRecord, nowMs: number, defaultTtlMs: number): number {
  let ttl = defaultTtlMs;
  if (token.expiresAtMs !== undefined) ttl = Math.min(ttl, token.expiresAtMs - nowMs);
  if (token.ttlSeconds > 0) ttl = Math.min(ttl, (token.lastUsedAtMs ?? token.createdAtMs) + token.ttlSeconds * 1000 - nowMs);
  return Math.max(0, ttl);
}
