import { hkdfSync, randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';

/** What the console keeps about a signed-in browser, sealed into its cookie (never readable by it). */
export interface SessionClaims {
  /** The credential every call is made with: an identity access JWT, or a token secret. */
  cred: string;
  /** identity's refresh token (user sessions): renews `cred`, and Logout ends the identity session with it. */
  rt?: string | undefined;
  /** When `cred` (an access JWT) expires, epoch ms. */
  credExp?: number | undefined;
  via: 'password' | 'token';
  /** Synchronizer CSRF token: every state-changing request carries it back (form field or header). */
  csrf: string;
  /** Display name: the username, or the token's subject. */
  name: string;
  /** Sign-in time and last activity, epoch ms: the absolute and idle timeouts count from these. */
  started: number;
  seen: number;
}

/** A pending TOTP step: username + password kept sealed for a few minutes while the code is asked. */
export interface PendingLogin {
  username: string;
  password: string;
  accountId: string;
  csrf: string;
  exp: number;
}

export interface SessionTimeouts {
  idleMs: number;
  absoluteMs: number;
}

const ISSUER = 'tollgate-console';

/**
 * Seals session state into an encrypted JWT (JWE, `dir` + `A256GCM`) under a key derived from
 * TOLLGATE_SECRET_KEY with HKDF: the browser holds it but can neither read nor alter it, and any
 * console replica holding the mesh key can open it (no session store).
 */
export function createSessionCodec(secretKey: Uint8Array, timeouts: SessionTimeouts, now: () => number) {
  const key = new Uint8Array(hkdfSync('sha256', secretKey, 'tollgate-console-session', 'console session cookie v1', 32));

  async function seal(payload: Record<string, unknown>, purpose: string, expMs: number): Promise<string> {
    return new EncryptJWT({ ...payload, purpose })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuer(ISSUER)
      .setIssuedAt(Math.floor(now() / 1000))
      .setExpirationTime(Math.floor(expMs / 1000))
      .encrypt(key);
  }

  async function open(jwe: string, purpose: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { payload } = await jwtDecrypt(jwe, key, { issuer: ISSUER, currentDate: new Date(now()), keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return payload.purpose === purpose ? payload : undefined;
    } catch {
      // Tampered, expired, or sealed under another key: no session, whatever the reason.
      return undefined;
    }
  }

  return {
    timeouts,
    newCsrfToken: () => randomBytes(24).toString('base64url'),
    sealSession: (claims: SessionClaims) => seal({ ...claims }, 'session', claims.started + timeouts.absoluteMs),
    /** The session, if sealed by us and neither idle nor past its absolute lifetime. */
    async openSession(jwe: string | undefined): Promise<SessionClaims | undefined> {
      if (!jwe) return undefined;
      const p = await open(jwe, 'session');
      if (!p || typeof p.cred !== 'string' || typeof p.csrf !== 'string' || typeof p.started !== 'number' || typeof p.seen !== 'number') return undefined;
      const t = now();
      if (t - p.seen > timeouts.idleMs || t - p.started > timeouts.absoluteMs) return undefined;
      return { cred: p.cred, rt: typeof p.rt === 'string' ? p.rt : undefined, credExp: typeof p.credExp === 'number' ? p.credExp : undefined, via: p.via === 'token' ? 'token' : 'password', csrf: p.csrf, name: String(p.name ?? ''), started: p.started, seen: p.seen };
    },
    sealPending: (pending: PendingLogin) => seal({ ...pending }, 'pending-login', pending.exp),
    async openPending(jwe: string | undefined): Promise<PendingLogin | undefined> {
      if (!jwe) return undefined;
      const p = await open(jwe, 'pending-login');
      if (!p || typeof p.username !== 'string' || typeof p.password !== 'string' || typeof p.csrf !== 'string') return undefined;
      return { username: p.username, password: p.password, accountId: String(p.accountId ?? ''), csrf: p.csrf, exp: Number(p.exp) * 1000 };
    },
  };
}

export type SessionCodec = ReturnType<typeof createSessionCodec>;
