import { mayConnect } from '#libs/acl/acl-engine.ts';
import { checkTokenUsable, decisionTtlMs } from '../domain/token-record.ts';
import { isIpAllowed } from '../domain/ip-allow-list.ts';
import { resolvePeerIp, type AuthenticateOutcome, type PeerIp } from './credential.ts';
import type { AccountPath, CachedToken, TokenCache } from './token-cache.ts';
import type { UsageTracker } from './usage-tracker.ts';

export type DecideToken = (entry: CachedToken | undefined, peerIp: PeerIp, ipCheckedElsewhere?: boolean) => AuthenticateOutcome | Promise<AuthenticateOutcome>;

const isAllowedFrom = (ips: NonNullable<CachedToken['ips']>, peerIp: string | undefined): boolean => peerIp !== undefined && isIpAllowed(ips, peerIp);

/**
 * A known token → may it be used now, from this address, in an account that is not suspended?
 * Answered at once (no promise) when the account's path is cached; a promise when it must be read.
 */
export function createTokenDecision(options: { cache: TokenCache; usage: UsageTracker; now: () => number; defaultTtlMs: number }): DecideToken {
  const { cache, usage, now, defaultTtlMs } = options;

  function admit(entry: CachedToken, t: number, path: AccountPath): AuthenticateOutcome {
    const { token } = entry;
    if (path.length === 0) return { allowed: false, reason: 'ACCOUNT_UNKNOWN', cacheTtlMs: 0 };
    if (path.some((a) => a.suspended)) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 };
    if (token.ttlSeconds > 0) {
      // Sliding TTL: remembered in memory now, written in batches by flushUsage().
      token.lastUsedAtMs = t;
      usage.markUsed(token.id);
    }
    return {
      allowed: true,
      reason: 'ALLOWED',
      // The same (frozen) principal for every admission of this cached entry: a changed token is a new entry.
      principal: (entry.principal ??= Object.freeze({ accountId: token.accountId, subject: token.id, kind: token.kind, superuser: token.kind === 'master', tokenId: token.id, expiresAtMs: token.expiresAtMs })),
      rules: token.rules,
      cacheTtlMs: decisionTtlMs(token, t, defaultTtlMs),
    };
  }

  return function decideToken(entry, peerIp, ipCheckedElsewhere = false) {
    if (!entry) return { allowed: false, reason: 'TOKEN_UNKNOWN', cacheTtlMs: 0 };
    const { token } = entry;
    const t = now();
    const usable = checkTokenUsable(token, t, ipCheckedElsewhere || !entry.ips || isAllowedFrom(entry.ips, resolvePeerIp(peerIp)));
    if (!usable.usable) return { allowed: false, reason: usable.reason, cacheTtlMs: 0 };
    // An acl token whose rules deny `connect` is refused here, so that every path that admits a
    // client — the edge, RabbitMQ, EMQX, go-auth, Envoy, admin RPCs — refuses it alike.
    if (entry.acl && !mayConnect(entry.acl)) return { allowed: false, reason: 'CONNECT_DENIED', cacheTtlMs: 0 };
    const path = cache.freshAccountPath(token.accountId);
    if (path) return admit(entry, t, path);
    return cache.accountPath(token.accountId).then((read) => admit(entry, t, read));
  };
}
