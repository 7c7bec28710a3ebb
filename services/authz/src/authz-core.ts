import { systemClock, type Clock } from '#libs/clock/index.ts';
import type { TokenStore } from './domain/token-record.ts';
import type { IdentityPeer } from './clients/identity-peer.ts';
import type { JwtOutcome } from './clients/jwks-cache.ts';
import { DecisionLog } from './decision-log.ts';
import { createTokenCache } from './core/token-cache.ts';
import { createUsageTracker } from './core/usage-tracker.ts';
import { createTokenDecision } from './core/token-decision.ts';
import { createJwtDecision } from './core/jwt-decision.ts';
import { createCredentialSniffer } from './core/credential-sniffer.ts';
import { createTokenLifecycle } from './core/token-lifecycle.ts';
import { createAuthorize } from './core/authorize.ts';

export interface AuthzCoreOptions {
  store: TokenStore;
  identity: IdentityPeer;
  /** What time it is (libs/clock): tests inject a fake one. */
  clock?: Clock;
  /** Default decision cache TTL. */
  decisionTtlMs?: number;
  /** How long an account path (and its suspension state) is cached; the identity feed clears it sooner. */
  accountCacheMs?: number;
  decisionLog?: DecisionLog;
  /**
   * Count limits on tokens (quota's `tokens` metric): for each account on the path with a limit, its
   * value and whether it is shadow-only. Unset: no count limits.
   */
  tokenCountLimits?: ((accountId: string) => Promise<{ accountId: string; value: number; shadow: boolean }[]>) | undefined;
  /** Every account in a subtree, the root included. */
  subtreeOf?: ((accountId: string) => Promise<string[]>) | undefined;
  /** Verifies identity access tokens (JWT) offline; unset: JWTs are refused as JWT_UNSUPPORTED. */
  verifyJwt?: ((token: string) => Promise<JwtOutcome>) | undefined;
}

/**
 * Authz's use cases: token lifecycle, credential checks and decisions, over caches that the
 * invalidation feed clears on every write (this replica's and, through NOTIFY, every other's).
 * Each concern lives in its own module under core/; this wires them together.
 */
export function createAuthzCore(options: AuthzCoreOptions) {
  const { store, identity } = options;
  const clock = options.clock ?? systemClock;
  const now = () => clock.nowMs();
  const defaultTtlMs = options.decisionTtlMs ?? 60_000;
  const decisions = options.decisionLog ?? new DecisionLog();
  const cache = createTokenCache({
    store,
    identity,
    now,
    tokenTtlMs: defaultTtlMs,
    accountCacheMs: options.accountCacheMs ?? 5_000,
    onTokenLookup: (accountId, hit) => decisions.tallies.countCacheLookup(accountId, hit),
  });
  const usage = createUsageTracker({ store, now });
  const decideToken = createTokenDecision({ cache, usage, now, defaultTtlMs });
  const decideJwt = createJwtDecision({ verifyJwt: options.verifyJwt, cache, decideToken, now, defaultTtlMs });
  const credentials = createCredentialSniffer({ store, identity, cache, decideToken, decideJwt, defaultTtlMs });
  const lifecycle = createTokenLifecycle({ store, identity, now, forget: cache.forget, tokenCountLimits: options.tokenCountLimits, subtreeOf: options.subtreeOf });
  const authorize = createAuthorize({ cache, credentials, decisions, now });

  /**
   * A token already known by id (an adapter remembered its login) decided again as of now, from
   * `peerIp`: revoked, expired, suspended or outside its IP allow-list since.
   */
  async function authenticateTokenId(tokenId: string, peerIp: string | undefined) {
    return decideToken(await cache.tokenById(tokenId), peerIp);
  }

  return {
    clock,
    store,
    identity,
    decisions,
    /** Every account in a subtree, the root included (identity's tree); unset: the account alone. */
    subtreeOf: options.subtreeOf ?? (async (accountId: string) => [accountId]),
    accountPath: cache.accountPath,
    authenticateTokenId,
    createToken: lifecycle.createToken,
    updateToken: lifecycle.updateToken,
    rotateToken: lifecycle.rotateToken,
    authenticate: credentials.authenticate,
    authorize,
    revokeToken: lifecycle.revokeToken,
    /** OAuth grants identity's provider ended: their access tokens are refused until `expiresAtMs`, and the feed says so. */
    revokeGrants: (grantIds: readonly string[], expiresAtMs: number) => store.revokeGrants(grantIds, expiresAtMs, now()),
    onInvalidation: cache.onInvalidation,
    forgetAccounts: cache.forgetAccounts,
    flushUsage: usage.flushUsage,
  };
}

export type AuthzCore = ReturnType<typeof createAuthzCore>;
