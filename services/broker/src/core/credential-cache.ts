import { boundedCache } from '#libs/cache/bounded-cache.ts';
import type { Clock } from '#libs/clock/index.ts';
import type { AuthenticateRequest, AuthenticateResult, Authenticator } from '../domain/ports.ts';
import { credentialKey } from '../domain/credential-key.ts';

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
  readonly #entries = boundedCache<string, CachedAuth>(100_000);

  constructor(authenticator: Authenticator, clock: Clock) {
    this.#authenticator = authenticator;
    this.#clock = clock;
  }

  authenticate(request: AuthenticateRequest): AuthenticateResult | Promise<AuthenticateResult> {
    const key = credentialKey(request, true);
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
