/**
 * Ed25519 signing keys for access tokens, with rotation.
 *
 * - Each key has a `kid` (its RFC 7638 JWK thumbprint). One key is active (signs); rotation makes a
 *   new key active and retires the old one.
 * - A retired key stays in the JWKS until every token it can have signed has expired:
 *   `retiredAtMs + maxAccessTokenTtlMs + clockToleranceMs` (the ring refuses longer ttls, so this
 *   bound holds without recording each token). `prune()` then deletes it.
 * - Private keys are stored sealed with secret-box, bound to their kid as associated data.
 */
import { SignJWT, calculateJwkThumbprint, decodeProtectedHeader, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import type { SecretBox } from '#libs/crypto/secret-box.ts';
import { invalidArgument } from '#libs/errors/index.ts';
import type { Clock } from '../domain/ports.ts';

export const ACCESS_TOKEN_ALG = 'EdDSA';
/** Algorithms a ring can hold: Ed25519 (every Tollgate token), and P-256 for OIDC clients that cannot verify EdDSA. */
export type SigningAlg = 'EdDSA' | 'ES256';
export const DEFAULT_ACCESS_TOKEN_TTL_MS = 6 * 3_600_000;

export interface StoredSigningKey {
  kid: string;
  createdAtMs: number;
  /** null while active. */
  retiredAtMs: number | null;
  publicJwk: JWK;
  /** secret-box sealed private JWK (JSON), associated data `signing-key:<kid>`. */
  sealedPrivateJwk: string;
}

/** Port; Postgres adapter lives in `../store/`. */
export interface SigningKeyStore {
  list(): Promise<StoredSigningKey[]>;
  insert(key: StoredSigningKey): Promise<void>;
  retire(kid: string, atMs: number): Promise<void>;
  delete(kid: string): Promise<void>;
}

export interface AccessTokenClaims {
  /** User id (`usr_…`). */
  sub: string;
  /** Current account id (`acc_…`). */
  acc: string;
  roles: string[];
}

export interface VerifiedAccessToken extends AccessTokenClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  kid: string;
}

export type VerifyOutcome = { ok: true; token: VerifiedAccessToken } | { ok: false; reason: 'EXPIRED' | 'UNKNOWN_KEY' | 'INVALID' };

export interface SigningKeyRingOptions {
  store: SigningKeyStore;
  secretBox: SecretBox;
  clock: Clock;
  issuer: string;
  audience: string;
  /** Longest access-token ttl the ring will issue; also how long a retired key stays published. */
  maxAccessTokenTtlMs?: number;
  clockToleranceMs?: number;
  /** The one algorithm of this ring's keys (default EdDSA); rings of different algorithms share a store. */
  alg?: SigningAlg;
}

interface LoadedKey {
  stored: StoredSigningKey;
  publicKey: CryptoKey;
  privateKey: CryptoKey | undefined;
}

export class SigningKeyRing {
  readonly issuer: string;
  readonly audience: string;
  readonly maxAccessTokenTtlMs: number;
  readonly clockToleranceMs: number;
  readonly alg: SigningAlg;
  readonly #store: SigningKeyStore;
  readonly #box: SecretBox;
  readonly #clock: Clock;
  #keys: LoadedKey[] = [];

  private constructor(options: SigningKeyRingOptions) {
    this.#store = options.store;
    this.#box = options.secretBox;
    this.#clock = options.clock;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.maxAccessTokenTtlMs = options.maxAccessTokenTtlMs ?? 24 * 3_600_000;
    this.clockToleranceMs = options.clockToleranceMs ?? 30_000;
    this.alg = options.alg ?? ACCESS_TOKEN_ALG;
  }

  /** Loads the keys, and generates the first one when the store has none (first start). */
  static async open(options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(options);
    await ring.reload();
    if (ring.#active() === undefined) await ring.rotate();
    return ring;
  }

  /** Re-reads the store (another replica rotated). */
  async reload(): Promise<void> {
    // Keys written before rings had an algorithm are Ed25519 ones.
    const stored = (await this.#store.list()).filter((key) => (key.publicJwk.alg ?? ACCESS_TOKEN_ALG) === this.alg);
    this.#keys = await Promise.all(stored.map((key) => this.#load(key)));
  }

  get activeKid(): string {
    const active = this.#active();
    if (active === undefined) throw new Error('signing key ring has no active key');
    return active.stored.kid;
  }

  /** Makes a new key active; the previous one is retired but still published. */
  async rotate(): Promise<{ kid: string; retiredKid: string | undefined }> {
    const nowMs = this.#clock.nowMs();
    const { publicKey, privateKey } = await generateKeyPair(this.alg, this.alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const stored: StoredSigningKey = {
      kid,
      createdAtMs: nowMs,
      retiredAtMs: null,
      publicJwk: { ...publicJwk, kid, alg: this.alg, use: 'sig' },
      sealedPrivateJwk: this.#box.seal(JSON.stringify(privateJwk), aadFor(kid)),
    };
    const previous = this.#active();
    await this.#store.insert(stored);
    if (previous) await this.#store.retire(previous.stored.kid, nowMs);
    if (previous) previous.stored = { ...previous.stored, retiredAtMs: nowMs };
    this.#keys.push({ stored, publicKey, privateKey });
    return { kid, retiredKid: previous?.stored.kid };
  }

  /** Deletes retired keys no unexpired token can reference; returns their kids. */
  async prune(): Promise<string[]> {
    const nowMs = this.#clock.nowMs();
    const gone = this.#keys.filter((key) => !this.#isPublished(key.stored, nowMs));
    for (const key of gone) await this.#store.delete(key.stored.kid);
    this.#keys = this.#keys.filter((key) => !gone.includes(key));
    return gone.map((key) => key.stored.kid);
  }

  async issueAccessToken(claims: AccessTokenClaims, ttlMs: number = DEFAULT_ACCESS_TOKEN_TTL_MS): Promise<{ token: string; expiresAtMs: number; kid: string }> {
    if (!(ttlMs > 0) || ttlMs > this.maxAccessTokenTtlMs) throw invalidArgument('ttl_ms', `must be > 0 and at most ${this.maxAccessTokenTtlMs}`);
    const active = this.#active();
    if (active?.privateKey === undefined) throw new Error('signing key ring has no active key');
    const nowMs = this.#clock.nowMs();
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.floor((nowMs + ttlMs) / 1000);
    const token = await new SignJWT({ acc: claims.acc, roles: claims.roles })
      .setProtectedHeader({ alg: this.alg, kid: active.stored.kid, typ: 'at+jwt' })
      .setSubject(claims.sub)
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(active.privateKey);
    return { token, expiresAtMs: exp * 1000, kid: active.stored.kid };
  }

  /** "No" is an outcome: a bad, expired or foreign token is `{ ok: false, reason }`, never a throw. */
  async verifyAccessToken(token: string): Promise<VerifyOutcome> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return { ok: false, reason: 'INVALID' };
    }
    const key = this.#keys.find((candidate) => candidate.stored.kid === kid && this.#isPublished(candidate.stored, this.#clock.nowMs()));
    if (key === undefined) return { ok: false, reason: 'UNKNOWN_KEY' };
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [this.alg],
        issuer: this.issuer,
        audience: this.audience,
        currentDate: new Date(this.#clock.nowMs()),
        clockTolerance: Math.floor(this.clockToleranceMs / 1000),
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      const parsed = parseClaims(payload, key.stored.kid);
      return parsed ? { ok: true, token: parsed } : { ok: false, reason: 'INVALID' };
    } catch (error) {
      return { ok: false, reason: error instanceof errors.JWTExpired ? 'EXPIRED' : 'INVALID' };
    }
  }

  /** The active key as a private JWK (with `kid`, `alg`), for the OAuth provider's keystore; never published. */
  activePrivateJwk(): JWK {
    const active = this.#active();
    if (active === undefined) throw new Error('signing key ring has no active key');
    const jwk = JSON.parse(this.#box.openText(active.stored.sealedPrivateJwk, aadFor(active.stored.kid))) as JWK;
    return { ...jwk, kid: active.stored.kid, alg: this.alg, use: 'sig' };
  }

  /** The JSON Web Key Set to serve at `/.well-known/jwks.json`: active and still-published retired keys. */
  jwks(): { keys: JWK[] } {
    const nowMs = this.#clock.nowMs();
    return { keys: this.#keys.filter((key) => this.#isPublished(key.stored, nowMs)).map((key) => ({ ...key.stored.publicJwk })) };
  }

  #active(): LoadedKey | undefined {
    return this.#keys.filter((key) => key.stored.retiredAtMs === null).sort((a, b) => b.stored.createdAtMs - a.stored.createdAtMs)[0];
  }

  #isPublished(key: StoredSigningKey, nowMs: number): boolean {
    return key.retiredAtMs === null || nowMs < key.retiredAtMs + this.maxAccessTokenTtlMs + this.clockToleranceMs;
  }

  async #load(stored: StoredSigningKey): Promise<LoadedKey> {
    const publicKey = (await importJWK(stored.publicJwk, this.alg)) as CryptoKey;
    // Retired keys never sign again: don't decrypt them.
    const privateKey = stored.retiredAtMs === null ? ((await importJWK(JSON.parse(this.#box.openText(stored.sealedPrivateJwk, aadFor(stored.kid))) as JWK, this.alg)) as CryptoKey) : undefined;
    return { stored, publicKey, privateKey };
  }
}

function aadFor(kid: string): string {
  return `signing-key:${kid}`;
}

function parseClaims(payload: JWTPayload, kid: string): VerifiedAccessToken | undefined {
  const { sub, iss, aud, iat, exp, jti } = payload;
  const acc = payload['acc'];
  const roles = payload['roles'];
  if (typeof sub !== 'string' || typeof iss !== 'string' || typeof aud !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return undefined;
  if (typeof acc !== 'string' || !Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) return undefined;
  return { sub, acc, roles: roles as string[], iss, aud, iat, exp, jti: typeof jti === 'string' ? jti : '', kid };
}
