import { decodeJwt } from 'jose';
import type { AdminPrincipal } from '#libs/admin-auth/admin-guard.ts';
import type { SigningKeyRing, VerifyOutcome } from './crypto/signing-key-ring.ts';
import type { Clock, IdentityStore } from './domain/ports.ts';
import { effectiveRole } from './domain/roles.ts';

type Authenticate = (bearer: string, peerIp: string | undefined) => Promise<AdminPrincipal | { denied: string }>;

/** A compact JWS: three base64url parts, the first a JSON header. */
export function looksLikeJwt(value: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

function isBoundClientToken(jwt: string): boolean {
  try {
    return typeof decodeJwt(jwt)['tok'] === 'string';
  } catch {
    return false;
  }
}

/**
 * Verifies an access token with the ring; a `kid` it does not know makes it re-read the keys (another
 * replica rotated), at most once a second so garbage tokens cannot turn into a query flood.
 */
export function createAccessTokenVerifier(ring: SigningKeyRing, clock: Clock) {
  let reloadedAtMs = -Infinity;
  return async function verify(token: string): Promise<VerifyOutcome> {
    const first = await ring.verifyAccessToken(token);
    if (first.ok || first.reason !== 'UNKNOWN_KEY' || clock.nowMs() - reloadedAtMs < 1_000) return first;
    reloadedAtMs = clock.nowMs();
    await ring.reload();
    return ring.verifyAccessToken(token);
  };
}

/**
 * The admin guard's `authenticate` port inside identity. Identity's own access tokens are checked
 * here, offline and against *current* state: the user must still exist, still hold a role on the
 * token's account path (the role used is today's, not the one in the claims), and that path must
 * not be suspended. Any other bearer (API tokens) is asked of authz.
 */
export function authenticateWithAccessTokens(deps: {
  verify: () => ((token: string) => Promise<VerifyOutcome>) | undefined;
  store: IdentityStore;
  otherwise: Authenticate;
}): Authenticate {
  return async (bearer, peerIp) => {
    const verify = deps.verify();
    // An OAuth client's token bound to acl rules (`tok`) is that acl token's credential: authz decides it.
    if (!verify || !looksLikeJwt(bearer) || isBoundClientToken(bearer)) return deps.otherwise(bearer, peerIp);
    const verified = await verify(bearer);
    if (!verified.ok) return { denied: verified.reason === 'EXPIRED' ? 'JWT_EXPIRED' : 'JWT_INVALID' };
    const { sub, acc } = verified.token;
    const [user, path] = await Promise.all([deps.store.getUser(sub), deps.store.accountPath(acc)]);
    if (!user || path.length === 0) return { denied: 'JWT_INVALID' };
    if (path.some((a) => a.state === 'suspended')) return { denied: 'ACCOUNT_SUSPENDED' };
    const effective = effectiveRole(user.memberships, path.map((a) => a.id));
    if (!effective) return { denied: 'NOT_A_MEMBER' };
    return { accountId: acc, subject: user.id, kind: 'user', role: effective.role };
  };
}
