/**
 * Credential-failure throttle of the MQTT edge: after `maxFailures` bad credentials from one
 * source address, or for one username, further CONNECTs from it are refused at the edge — before
 * authz (and identity's password check behind it) is asked — for a backoff that doubles with
 * every further failure, up to `backoffMaxMs`. A quiet `windowMs` forgets the count.
 *
 * Why at the edge and with counters of its own: a device retrying a wrong password, or a fuzzer,
 * must neither load authz/identity nor count against a person's interactive login lockout
 * (identity keeps MQTT/adapter checks apart from logins; see services/identity/README.md).
 *
 * Memory is bounded: one LRU map of at most `maxEntries` keys, so a flood of spoofed usernames
 * evicts the oldest counters instead of growing the heap. Keys are opaque to this module: the
 * caller derives them (a username is often a token secret, so it arrives hashed).
 *
 * Refusals while blocked are counted per key and reported once per blocked episode
 * (`onEpisode`), not one line per packet.
 */
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '#libs/cache/bounded-cache.ts';

export interface CredentialThrottlePolicy {
  /** Bad credentials from one address before it is throttled. */
  maxFailuresPerAddress: number;
  /** Bad credentials for one username (from any address) before it is throttled. */
  maxFailuresPerUsername: number;
  /** The first block; doubles with every further failure. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Quiet time after which a key's failures are forgotten. */
  windowMs: number;
  /** Keys held at most (address and username counters together). */
  maxEntries: number;
}

export const defaultCredentialThrottlePolicy: CredentialThrottlePolicy = Object.freeze({
  maxFailuresPerAddress: 10,
  maxFailuresPerUsername: 5,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  windowMs: 10 * 60_000,
  maxEntries: 100_000,
});

export type ThrottleScope = 'address' | 'username';

export type ThrottleCheck = { allowed: true } | { allowed: false; scope: ThrottleScope; retryAfterMs: number };

/** One blocked episode of a key, reported when it starts and when it is over. */
export interface ThrottleEpisode {
  phase: 'started' | 'ended';
  scope: ThrottleScope;
  key: string;
  failures: number;
  /** Started: how long the block lasts. */
  blockedForMs: number;
  /** Ended: CONNECTs refused during the episode without asking authz. */
  refused: number;
}

interface KeyState {
  failures: number;
  lastFailureAtMs: number;
  blockedUntilMs: number;
  /** Refusals since the current episode started. */
  refused: number;
  inEpisode: boolean;
}

const ALLOWED: ThrottleCheck = Object.freeze({ allowed: true });

export class CredentialThrottle {
  readonly #policy: CredentialThrottlePolicy;
  readonly #now: () => number;
  readonly #onEpisode: (episode: ThrottleEpisode) => void;
  readonly #states: LRUCache<string, KeyState>;

  constructor(options: { policy?: Partial<CredentialThrottlePolicy>; nowMs: () => number; onEpisode?: (episode: ThrottleEpisode) => void }) {
    this.#policy = { ...defaultCredentialThrottlePolicy, ...options.policy };
    this.#now = options.nowMs;
    this.#onEpisode = options.onEpisode ?? (() => {});
    this.#states = boundedCache<string, KeyState>(this.#policy.maxEntries, {
      // A counter pushed out by newer ones closes its episode in the log (refusals so far).
      dispose: (state, mapKey, reason) => {
        if (reason === 'evict') this.#end(mapKey.startsWith('a:') ? 'address' : 'username', mapKey.slice(2), state, this.#now());
      },
    });
  }

  /** May a CONNECT with these keys go on to authz now? A refusal is counted toward the episode. */
  check(addressKey: string, usernameKey: string | undefined): ThrottleCheck {
    // The usual state, no failure on record: nothing to look up (and nothing allocated per CONNECT).
    if (this.#states.size === 0) return ALLOWED;
    const now = this.#now();
    let worst: ThrottleCheck = ALLOWED;
    for (const [scope, key] of [['address', addressKey], ['username', usernameKey]] as const) {
      if (key === undefined) continue;
      const state = this.#live(scope, key, now);
      if (state === undefined || now >= state.blockedUntilMs) continue;
      state.refused++;
      const retryAfterMs = state.blockedUntilMs - now;
      if (worst.allowed || retryAfterMs > worst.retryAfterMs) worst = { allowed: false, scope, retryAfterMs };
    }
    return worst;
  }

  /** A bad credential: both counters grow; past the threshold the key is blocked for the backoff. */
  recordFailure(addressKey: string, usernameKey: string | undefined): void {
    const now = this.#now();
    this.#fail('address', addressKey, this.#policy.maxFailuresPerAddress, now);
    if (usernameKey !== undefined) this.#fail('username', usernameKey, this.#policy.maxFailuresPerUsername, now);
  }

  /** Good credentials: the username's counter is dropped (the address's stays, as in identity). */
  recordSuccess(usernameKey: string | undefined): void {
    if (usernameKey === undefined) return;
    const now = this.#now();
    const state = this.#states.get(`u:${usernameKey}`);
    if (state) this.#end('username', usernameKey, state, now);
    this.#states.delete(`u:${usernameKey}`);
  }

  /** Keys currently held (for tests and metrics). */
  get size(): number {
    return this.#states.size;
  }

  #fail(scope: ThrottleScope, key: string, max: number, now: number): void {
    const mapKey = `${scope === 'address' ? 'a' : 'u'}:${key}`;
    const state = this.#live(scope, key, now) ?? { failures: 0, lastFailureAtMs: now, blockedUntilMs: 0, refused: 0, inEpisode: false };
    state.failures++;
    state.lastFailureAtMs = now;
    if (state.failures >= max) {
      const blockedForMs = backoffMs(state.failures - max, this.#policy);
      state.blockedUntilMs = now + blockedForMs;
      if (!state.inEpisode) {
        state.inEpisode = true;
        state.refused = 0;
        this.#onEpisode({ phase: 'started', scope, key, failures: state.failures, blockedForMs, refused: 0 });
      }
    }
    this.#states.set(mapKey, state);
  }

  /** The key's state, with forgotten history dropped (a quiet window after the last block). */
  #live(scope: ThrottleScope, key: string, now: number): KeyState | undefined {
    const mapKey = `${scope === 'address' ? 'a' : 'u'}:${key}`;
    const state = this.#states.get(mapKey);
    if (state === undefined) return undefined;
    if (now - Math.max(state.lastFailureAtMs, state.blockedUntilMs) >= this.#policy.windowMs) {
      this.#end(scope, key, state, now);
      this.#states.delete(mapKey);
      return undefined;
    }
    return state;
  }

  #end(scope: ThrottleScope, key: string, state: KeyState, _now: number): void {
    if (!state.inEpisode) return;
    state.inEpisode = false;
    this.#onEpisode({ phase: 'ended', scope, key, failures: state.failures, blockedForMs: 0, refused: state.refused });
  }
}

/** Block length after `extra` failures past the threshold: base, 2·base, 4·base, … capped. */
export function backoffMs(extra: number, policy: Pick<CredentialThrottlePolicy, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  return Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(Math.max(extra, 0), 30));
}
