import { createLocalJWKSet, jwtVerify, decodeProtectedHeader, errors as joseErrors, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { ServiceClient } from '#libs/rpc/index.ts';
import type { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';

export type JwtClaims = JWTPayload & { sub: string; acc?: string; roles?: string[] };

/** The audience of identity's access tokens (its own, and its OAuth provider's for resource urn:tollgate). */
const MESH_AUDIENCE = 'tollgate';

export type JwtOutcome =
  | { valid: true; claims: JwtClaims }
  | { valid: false; reason: 'JWT_INVALID' | 'JWT_EXPIRED' | 'JWT_UNKNOWN_KEY' }
  | { valid: false; reason: 'JWKS_UNAVAILABLE' };

/**
 * Verifies identity's access tokens offline: the JWKS is fetched from identity once, kept, and
 * fetched again only when a token names a key id we do not know (at most every `minRefreshMs`).
 * While identity is down, tokens signed by known keys keep verifying.
 */
export function createJwksVerifier(options: { identity: ServiceClient<typeof IdentityService>; minRefreshMs?: number; nowMs?: () => number }) {
  const now = options.nowMs ?? Date.now;
  // At most one refetch a second, however many unknown kids arrive (a flood of forged kids cannot
  // turn into a flood of JWKS fetches), and a rotated key is picked up within a second.
  const minRefreshMs = options.minRefreshMs ?? 1_000;
  let jwks: { keys: ReturnType<typeof createLocalJWKSet>; kids: Set<string>; issuer: string } | undefined;
  let lastFetchMs = -Infinity;
  let inflight: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    inflight ??= (async () => {
      try {
        lastFetchMs = now();
        const res = await options.identity.getJwks({});
        const set = JSON.parse(res.jwksJson) as JSONWebKeySet;
        jwks = { keys: createLocalJWKSet(set), kids: new Set(set.keys.map((k) => k.kid ?? '')), issuer: res.issuer };
      } finally {
        inflight = undefined;
      }
    })();
    await inflight;
  }

  return {
    async verify(token: string): Promise<JwtOutcome> {
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(token).kid;
      } catch {
        return { valid: false, reason: 'JWT_INVALID' };
      }
      if (!kid) return { valid: false, reason: 'JWT_INVALID' };
      if (!jwks || (!jwks.kids.has(kid) && now() - lastFetchMs >= minRefreshMs)) {
        try {
          await refresh();
        } catch {
          if (!jwks) return { valid: false, reason: 'JWKS_UNAVAILABLE' };
        }
      }
      if (!jwks || !jwks.kids.has(kid)) return { valid: false, reason: 'JWT_UNKNOWN_KEY' };
      try {
        // Only access tokens for the mesh (`aud: tollgate`): an OIDC ID token, signed by the same keys
        // but addressed to one OAuth client, is no credential here.
        const { payload } = await jwtVerify(token, jwks.keys, { algorithms: ['EdDSA'], audience: MESH_AUDIENCE, ...(jwks.issuer ? { issuer: jwks.issuer } : {}) });
        if (typeof payload.sub !== 'string') return { valid: false, reason: 'JWT_INVALID' };
        return { valid: true, claims: payload as JwtClaims };
      } catch (error) {
        return { valid: false, reason: error instanceof joseErrors.JWTExpired ? 'JWT_EXPIRED' : 'JWT_INVALID' };
      }
    },
  };
}

/** A compact JWS: three base64url parts, the first a JSON header. */
export function looksLikeJwt(value: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}
