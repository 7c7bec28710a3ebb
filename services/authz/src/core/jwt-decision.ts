import { isId } from '#libs/crypto/ids.ts';
import type { JwtOutcome } from '../clients/jwks-cache.ts';
import type { AuthenticateOutcome, PeerIp } from './credential.ts';
import type { TokenCache } from './token-cache.ts';
import type { DecideToken } from './token-decision.ts';

/** The grant id identity's provider puts in its access tokens (`gid`): `grt_` + 20 Crockford base32 characters. */
export const GRANT_ID = /^grt_[0-9a-hjkmnp-tv-z]{20}$/;

export type DecideJwt = (token: string, peerIp: PeerIp, ipCheckedElsewhere?: boolean) => Promise<AuthenticateOutcome>;

/** An identity access token (JWT) → a user principal, or the OAuth client's acl token it is bound to. */
export function createJwtDecision(options: {
  verifyJwt: ((token: string) => Promise<JwtOutcome>) | undefined;
  cache: TokenCache;
  decideToken: DecideToken;
  now: () => number;
  defaultTtlMs: number;
}): DecideJwt {
  const { cache, decideToken, now, defaultTtlMs } = options;
  return async function decideJwt(token, peerIp, ipCheckedElsewhere = false) {
    if (!options.verifyJwt) return { allowed: false, reason: 'JWT_UNSUPPORTED', cacheTtlMs: 0 };
    const verified = await options.verifyJwt(token);
    if (!verified.valid) return { allowed: false, reason: verified.reason, cacheTtlMs: 0 };
    const { claims } = verified;
    if (!claims.acc) return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
    // An OAuth access token from a grant (a refresh-token family) ends with it: a revoked or reused
    // refresh token, a disabled client or a changed password revokes the grant in identity, which
    // records it here (RevokeGrants) and on the feed (GRANT_REVOKED: brokers match the grant id).
    let grantId: string | undefined;
    if (claims['gid'] !== undefined) {
      if (typeof claims['gid'] !== 'string' || !GRANT_ID.test(claims['gid'])) return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
      grantId = claims['gid'];
      if (await cache.isGrantRevoked(grantId)) return { allowed: false, reason: 'OAUTH_GRANT_REVOKED', cacheTtlMs: 0 };
    }
    const granted = grantId ? { grantId } : {};
    // An OAuth client's token (identity's provider) bound to acl rules: it is exactly that client's
    // acl token — its rules, its revocation (disabling or deleting the client revokes it, and the
    // invalidation feed disconnects its MQTT clients: brokers match the token id as subject), its
    // account — and never outliving the JWT.
    if (typeof claims['tok'] === 'string') {
      const tokenId = claims['tok'];
      if (!isId(tokenId, 'tok')) return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
      const decided = await decideToken(await cache.tokenById(tokenId), peerIp, ipCheckedElsewhere);
      if (!decided.allowed) return decided;
      if (decided.principal.accountId !== claims.acc || decided.principal.kind !== 'acl') return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
      const jwtExpiresAtMs = typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity;
      const expiresAtMs = Math.min(decided.principal.expiresAtMs ?? Infinity, jwtExpiresAtMs);
      return {
        ...decided,
        principal: { ...decided.principal, expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : undefined, ...granted },
        cacheTtlMs: Math.max(0, Math.min(decided.cacheTtlMs, jwtExpiresAtMs - now())),
      };
    }
    // A client-credentials token of a client bound to no rules grants nothing in the mesh.
    if (typeof claims['client_id'] === 'string' && claims.sub === claims['client_id']) return { allowed: false, reason: 'OAUTH_CLIENT_UNBOUND', cacheTtlMs: 0 };
    const path = await cache.accountPath(claims.acc);
    if (path.length === 0) return { allowed: false, reason: 'ACCOUNT_UNKNOWN', cacheTtlMs: 0 };
    if (path.some((a) => a.suspended)) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 };
    const expiresAtMs = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    const role = ['owner', 'admin', 'member', 'viewer'].find((r) => claims.roles?.includes(r));
    return {
      allowed: true,
      reason: 'ALLOWED',
      principal: { accountId: claims.acc, subject: claims.sub, kind: 'user', role, superuser: false, tokenId: undefined, expiresAtMs, ...granted },
      rules: [],
      cacheTtlMs: Math.max(0, Math.min(defaultTtlMs, (expiresAtMs ?? Infinity) - now())),
    };
  };
}
