import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '#libs/clock/index.ts';
import type { AuthenticateRequest, AuthenticateResult, Authenticator } from '../domain/ports.ts';

interface CachedAuth {
  result: AuthenticateResult & { allowed: true };
  untilMs: number;
}

/**
 * CONNECT → Authenticator through a credential cache for the decision's TTL, never past the
 * credential's expiry. Keyed by a hash of (username, password, client id, peer ip): client id
 * and ip are in the key because ACL rules and IP allow-lists can depend on them.
 */
export class CredentialCache {
  readonly #authenticator: Authenticator;
  readonly #clock: Clock;
  readonly #entries = new LRUCache<string, CachedAuth>({ max: 100_000 });

  constructor(authenticator: Authenticator, clock: Clock) {
    this.#authenticator = authenticator;
    this.#clock = clock;
  }

  authenticate(request: AuthenticateRequest): AuthenticateResult | Promise<AuthenticateResult> {
    // One-shot hash of one string (no Hash object and seven updates per CONNECT), as authz's
    // authenticator keys its cache. The parts are NUL-separated and CONNECT refuses credentials
    // and client ids holding a NUL before this, so distinct requests never share a key; the
    // password bytes are taken as latin1 (lossless). Only the digest is held, never the secret.
    const password = request.password === undefined ? '' : request.password.toString('latin1');
    const key = hash('sha256', `${request.username ?? '\u0000anonymous'}\u0000${password}\u0000${request.clientId}\u0000${request.peerIp}`, 'base64');
    const now = this.#clock.nowMs();
    const hit = this.#entries.get(key);
    if (hit && hit.untilMs > now) return hit.result;
    if (hit) this.#entries.delete(key);
    return this.#authenticateAndCache(request, key, now);
  }

  async #authenticateAndCache(request: AuthenticateRequest, key: string, now: number): Promise<AuthenticateResult> {
    const result = await this.#authenticator.authenticate(request);
    if (result.allowed && result.cacheTtlMs > 0) {
      const untilMs = Math.min(now + result.cacheTtlMs, result.expiresAtMs ?? Number.POSITIVE_INFINITY);
      this.#entries.set(key, { result, untilMs });
    }
    return result;
  }

  /** Drops every cached decision (e.g. on an invalidation event). */
  clear(): void {
    this.#entries.clear();
  }

  /** Drops the decisions whose time is up (the broker's sweep). */
  sweep(now: number): void {
    for (const [key, hit] of [...this.#entries.entries()]) if (hit.untilMs <= now) this.#entries.delete(key);
  }
}
