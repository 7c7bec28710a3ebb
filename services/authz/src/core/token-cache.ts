import { boundedCache } from '#libs/cache/bounded-cache.ts';
import { hashTokenSecret } from '#libs/crypto/token-secret.ts';
import { compileRules, type CompiledAcl } from '#libs/acl/acl-engine.ts';
import type { InvalidationEvent, TokenRecord, TokenStore } from '../domain/token-record.ts';
import { compileIpAllowList, type IpAllowList } from '../domain/ip-allow-list.ts';
import type { IdentityPeer } from '../clients/identity-peer.ts';
import type { Principal } from './credential.ts';

/** A token as last read, with its rules and IP allow-list compiled once. */
export interface CachedToken {
  token: TokenRecord;
  acl: CompiledAcl | undefined;
  ips: IpAllowList | undefined;
  fetchedAtMs: number;
  /** Who the token is, made on its first admission (token-decision.ts) and shared, frozen, by the next. */
  principal: Principal | undefined;
}

export type AccountPath = { id: string; suspended: boolean }[];

/** Entries each cache holds at most; the least recently used go first. */
export const TOKEN_CACHE_MAX = 100_000;

/**
 * This replica's read caches — tokens by id, token ids by secret hash, account paths with their
 * suspension state — which the invalidation feed clears on every write.
 */
export function createTokenCache(options: {
  store: TokenStore;
  identity: IdentityPeer;
  now: () => number;
  tokenTtlMs: number;
  accountCacheMs: number;
  /** Told of every token lookup, by the token's account: answered from memory (hit) or the store (miss). */
  onTokenLookup?: ((accountId: string, hit: boolean) => void) | undefined;
}) {
  const { store, identity, now, tokenTtlMs, accountCacheMs } = options;
  const onLookup = options.onTokenLookup ?? (() => {});
  // Bounded by count; freshness is checked against the injected clock (tokenTtlMs, accountCacheMs).
  const tokensById = boundedCache<string, CachedToken>(TOKEN_CACHE_MAX);
  const idBySecretHash = boundedCache<string, string>(TOKEN_CACHE_MAX);
  const accountPaths = boundedCache<string, { path: AccountPath; atMs: number }>(TOKEN_CACHE_MAX);
  // OAuth grants: revoked ones (from the feed or the store) win over a "live" answer read at the same time.
  const revokedGrants = boundedCache<string, true>(TOKEN_CACHE_MAX);
  const liveGrants = boundedCache<string, number>(TOKEN_CACHE_MAX);

  function cacheToken(token: TokenRecord): CachedToken {
    const entry: CachedToken = {
      token,
      acl: token.kind === 'acl' ? compileRules(token.rules) : undefined,
      ips: token.ipAllow.length ? compileIpAllowList(token.ipAllow) : undefined,
      fetchedAtMs: now(),
      principal: undefined,
    };
    tokensById.set(token.id, entry);
    return entry;
  }

  /**
   * The fresh cached entry of a token id, without waiting: undefined sends the caller to `tokenById`.
   * A lookup is counted once, under the token's account (a hit here, a miss when `tokenById` reads
   * the store): a token the store does not know has none, and is not counted.
   */
  function freshToken(id: string): CachedToken | undefined {
    const hit = tokensById.get(id);
    if (hit && now() - hit.fetchedAtMs < tokenTtlMs) {
      onLookup(hit.token.accountId, true);
      return hit;
    }
    return undefined;
  }

  /** A token by id: the fresh cached entry at once (no promise), else read from the store. */
  function tokenById(id: string): CachedToken | undefined | Promise<CachedToken | undefined> {
    return freshToken(id) ?? readToken(id);
  }

  async function readToken(id: string): Promise<CachedToken | undefined> {
    const token = await store.get(id);
    if (!token) return undefined;
    onLookup(token.accountId, false);
    return cacheToken(token);
  }

  /**
   * The fresh cached entry of a token secret, without reading the store: undefined when this
   * replica has none (the caller then goes through `tokenBySecret`). Found means issued: the entry
   * was cached under this secret's SHA-256 when the store returned its token.
   */
  function freshTokenBySecret(secret: string): CachedToken | undefined {
    const id = idBySecretHash.get(hashTokenSecret(secret));
    return id !== undefined ? freshToken(id) : undefined;
  }

  /** A token by its secret: the fresh cached entry at once (no promise), else read from the store. */
  function tokenBySecret(secret: string): CachedToken | undefined | Promise<CachedToken | undefined> {
    const hash = hashTokenSecret(secret);
    const id = idBySecretHash.get(hash);
    return (id !== undefined ? freshToken(id) : undefined) ?? readBySecret(hash, id);
  }

  async function readBySecret(hash: string, id: string | undefined): Promise<CachedToken | undefined> {
    if (id) {
      const hit = await tokenById(id);
      if (hit) return hit;
    }
    const token = await store.findBySecretHash(hash, now());
    if (!token) return undefined;
    onLookup(token.accountId, false);
    idBySecretHash.set(hash, token.id);
    return cacheToken(token);
  }

  /** The entry cached for a token id, without reading the store or checking its age. */
  function cachedToken(id: string): CachedToken | undefined {
    return tokensById.get(id);
  }

  /** The fresh cached path of an account, without waiting: undefined sends the caller to `accountPath`. */
  function freshAccountPath(accountId: string): AccountPath | undefined {
    const hit = accountPaths.get(accountId);
    return hit && now() - hit.atMs < accountCacheMs ? hit.path : undefined;
  }

  // One read of an account's path at a time: when the entry expires under load, every call in
  // flight misses at once, and they all wait for the same answer instead of each asking identity.
  // An account change (the feeds) drops the reads in flight and starts a new generation, whose
  // results alone are cached: a read begun before the change never answers a call made after it.
  const pendingPaths = new Map<string, Promise<AccountPath>>();
  let accountGeneration = 0;

  async function accountPath(accountId: string): Promise<AccountPath> {
    const hit = freshAccountPath(accountId);
    if (hit) return hit;
    let pending = pendingPaths.get(accountId);
    if (!pending) {
      const generation = accountGeneration;
      const read: Promise<AccountPath> = identity
        .accountPath(accountId)
        .then((path) => {
          if (generation === accountGeneration) accountPaths.set(accountId, { path, atMs: now() });
          return path;
        })
        .finally(() => {
          if (pendingPaths.get(accountId) === read) pendingPaths.delete(accountId);
        });
      pendingPaths.set(accountId, (pending = read));
    }
    return pending;
  }

  function dropAccountPaths(): void {
    accountGeneration++;
    pendingPaths.clear();
    accountPaths.clear();
  }

  /** Whether identity's provider revoked this OAuth grant (a refresh-token family); a revocation on the feed applies at once. */
  async function isGrantRevoked(grantId: string): Promise<boolean> {
    if (revokedGrants.has(grantId)) return true;
    const checkedAtMs = liveGrants.get(grantId);
    if (checkedAtMs !== undefined && now() - checkedAtMs < tokenTtlMs) return false;
    const checkedAt = now();
    const revoked = await store.isGrantRevoked(grantId, checkedAt);
    if (revoked) revokedGrants.set(grantId, true);
    // The feed may have said "revoked" while the store was read: that answer stands.
    else if (!revokedGrants.has(grantId)) liveGrants.set(grantId, checkedAt);
    return revokedGrants.has(grantId);
  }

  function forget(tokenId: string): void {
    tokensById.delete(tokenId);
    const hashes = [...idBySecretHash.entries()].filter(([, id]) => id === tokenId).map(([hash]) => hash);
    for (const hash of hashes) idBySecretHash.delete(hash);
  }

  /** Applies one feed event to this replica's caches. */
  function onInvalidation(event: InvalidationEvent): void {
    if (event.kind === 'RESET') {
      tokensById.clear();
      idBySecretHash.clear();
      dropAccountPaths();
      liveGrants.clear();
      return;
    }
    if (event.kind === 'GRANT_REVOKED' && event.grantId) {
      revokedGrants.set(event.grantId, true);
      liveGrants.delete(event.grantId);
      return;
    }
    if (event.tokenId) forget(event.tokenId);
    if (event.kind === 'ACCOUNT_SUSPENDED') dropAccountPaths();
  }

  /** An account changed (identity's feed): account paths and suspension states are read again. */
  function forgetAccounts(): void {
    dropAccountPaths();
  }

  return { tokenById, tokenBySecret, freshTokenBySecret, cachedToken, accountPath, freshAccountPath, isGrantRevoked, forget, onInvalidation, forgetAccounts };
}

export type TokenCache = ReturnType<typeof createTokenCache>;
