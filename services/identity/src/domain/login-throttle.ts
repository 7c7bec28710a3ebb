/**
 * Brute-force protection for password checks. Three counters per attempt:
 *
 * - **pair** — (username, client address): each failure makes the next attempt from that address
 *   wait (exponential backoff: base, 2·base, 4·base, …, capped); the `maxFailures`-th locks that
 *   username *from that address* for `lockoutMs`. Someone guessing from one place locks out
 *   themselves, not the user everywhere else.
 * - **ip** — the address over every username (password spraying), at a higher threshold.
 * - **username** — every address: locks the account only on a *distributed* attack, when failures
 *   within the window come from at least `distinctAddresses` addresses (see password-login.ts).
 *
 * A success clears the pair and username counters (the IP's stays: one good login must not
 * launder a password-spraying IP). Failures older than `failureWindowMs` are forgotten. The same
 * refusal is given for known and unknown usernames, so the throttle does not reveal which exist.
 *
 * Pure: callers pass the states they loaded and `nowMs`; store the returned states.
 */

export interface ThrottlePolicy {
  /** Failures that trigger a lockout. */
  maxFailures: number;
  lockoutMs: number;
  /** Wait after the first failure; doubles with each further one. 0 disables backoff. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A quiet period after which the failure count starts again from zero. */
  failureWindowMs: number;
}

export const defaultThrottlePolicy: ThrottlePolicy = Object.freeze({
  maxFailures: 5,
  lockoutMs: 15 * 60_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  failureWindowMs: 15 * 60_000,
});

export interface AttemptState {
  failures: number;
  lastFailureAtMs: number;
  /** Set while locked out; cleared by the first failure or success after it passes. */
  lockedUntilMs: number | null;
}

export type ThrottleScope = 'pair' | 'username' | 'ip';

export type ThrottleDecision =
  | { allowed: true }
  | { allowed: false; reason: 'LOCKED_OUT' | 'BACKOFF'; scope: ThrottleScope; retryAfterMs: number };

/** May an attempt be made now for this key? `undefined` state = no history. */
export function checkAttempt(state: AttemptState | undefined, nowMs: number, policy: ThrottlePolicy = defaultThrottlePolicy): { allowed: true } | { allowed: false; reason: 'LOCKED_OUT' | 'BACKOFF'; retryAfterMs: number } {
  const current = live(state, nowMs, policy);
  if (current === undefined) return { allowed: true };
  if (current.lockedUntilMs !== null && nowMs < current.lockedUntilMs) return { allowed: false, reason: 'LOCKED_OUT', retryAfterMs: current.lockedUntilMs - nowMs };
  const readyAtMs = current.lastFailureAtMs + backoffMs(current.failures, policy);
  if (nowMs < readyAtMs) return { allowed: false, reason: 'BACKOFF', retryAfterMs: readyAtMs - nowMs };
  return { allowed: true };
}

/** Checks every key given; the longer wait wins so the caller reports one `retryAfterMs`. */
export function checkLogin(states: Partial<Record<ThrottleScope, AttemptState | undefined>>, nowMs: number, policies: Partial<Record<ThrottleScope, ThrottlePolicy>> = {}): ThrottleDecision {
  let worst: ThrottleDecision = { allowed: true };
  for (const scope of ['pair', 'username', 'ip'] as const) {
    const decision = checkAttempt(states[scope], nowMs, policies[scope] ?? defaultThrottlePolicy);
    if (!decision.allowed && (worst.allowed || decision.retryAfterMs > worst.retryAfterMs)) worst = { ...decision, scope };
  }
  return worst;
}

/** The state after a failed attempt, and whether this failure started a lockout (audit it). */
export function recordFailure(state: AttemptState | undefined, nowMs: number, policy: ThrottlePolicy = defaultThrottlePolicy): { state: AttemptState; lockedOut: boolean } {
  const current = live(state, nowMs, policy);
  const failures = (current?.failures ?? 0) + 1;
  if (failures >= policy.maxFailures) {
    return { state: { failures, lastFailureAtMs: nowMs, lockedUntilMs: nowMs + policy.lockoutMs }, lockedOut: true };
  }
  return { state: { failures, lastFailureAtMs: nowMs, lockedUntilMs: null }, lockedOut: false };
}

/** After a good login: the username's counter is dropped (return value `undefined` = delete). */
export function recordSuccess(): undefined {
  return undefined;
}

/** True when the stored state can be deleted (nothing it would still refuse). */
export function isExpired(state: AttemptState, nowMs: number, policy: ThrottlePolicy = defaultThrottlePolicy): boolean {
  return live(state, nowMs, policy) === undefined;
}

export function backoffMs(failures: number, policy: ThrottlePolicy = defaultThrottlePolicy): number {
  if (failures <= 0 || policy.backoffBaseMs <= 0) return 0;
  return Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
}

/** The state with forgotten history removed: a passed lockout or a quiet window resets the count. */
function live(state: AttemptState | undefined, nowMs: number, policy: ThrottlePolicy): AttemptState | undefined {
  if (state === undefined) return undefined;
  if (state.lockedUntilMs !== null) return nowMs < state.lockedUntilMs ? state : undefined;
  if (nowMs - state.lastFailureAtMs >= policy.failureWindowMs) return undefined;
  return state;
}

/** Counter keys: usernames case-folded (they are unique case-insensitively). */
export function usernameThrottleKey(username: string): string {
  return `user:${username.trim().toLowerCase()}`;
}

/**
 * The (username, address) key. The username's length is part of the prefix so that no other
 * username's keys share it (`alice|…` cannot pass for one of `alice`'s addresses).
 */
export function pairThrottlePrefix(username: string): string {
  const name = username.trim().toLowerCase();
  return `pair:${name.length}:${name}|`;
}

export function pairThrottleKey(username: string, ip: string | null): string {
  return `${pairThrottlePrefix(username)}${ip ? ipThrottleKey(ip) : 'ip:unknown'}`;
}

/**
 * IP keys. IPv6 clients usually own a whole /64, so counting per address would let one client
 * rotate addresses; count per /64 instead. Expects a textual address as the socket reports it.
 */
export function ipThrottleKey(ip: string): string {
  const address = ip.trim().toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (!address.includes(':')) return `ip:${address}`;
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::') ? [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups] : headGroups;
  return `ip6:${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
