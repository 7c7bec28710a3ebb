import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  checkAttempt,
  checkLogin,
  defaultThrottlePolicy,
  ipThrottleKey,
  isExpired,
  recordFailure,
  recordSuccess,
  usernameThrottleKey,
  type AttemptState,
} from './login-throttle.ts';

const MIN = 60_000;

/** Fails `n` times, each as soon as allowed; returns state and the clock. */
function failRepeatedly(n: number, startMs = 0) {
  let state: AttemptState | undefined;
  let nowMs = startMs;
  let lockouts = 0;
  for (let i = 0; i < n; i++) {
    const check = checkAttempt(state, nowMs);
    if (!check.allowed) nowMs += check.retryAfterMs;
    const result = recordFailure(state, nowMs);
    state = result.state;
    if (result.lockedOut) lockouts++;
  }
  return { state: state!, nowMs, lockouts };
}

describe('backoff', () => {
  it.each([
    [0, 0],
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [10, 60_000],
    [100, 60_000],
  ])('after %i failures waits %i ms', (failures, ms) => expect(backoffMs(failures)).toBe(ms));

  it('refuses an attempt inside the backoff and allows it after', () => {
    const { state } = recordFailure(undefined, 0);
    expect(checkAttempt(state, 999)).toEqual({ allowed: false, reason: 'BACKOFF', retryAfterMs: 1 });
    expect(checkAttempt(state, 1_000)).toEqual({ allowed: true });
  });
});

describe('lockout (defaults: 5 failures → 15 min)', () => {
  it('the 5th failure locks for 15 minutes', () => {
    const four = failRepeatedly(4);
    expect(four.lockouts).toBe(0);
    expect(four.state.lockedUntilMs).toBeNull();
    const five = failRepeatedly(5);
    expect(five.lockouts).toBe(1);
    expect(five.state.lockedUntilMs).toBe(five.nowMs + 15 * MIN);
    expect(checkAttempt(five.state, five.nowMs + 15 * MIN - 1)).toEqual({ allowed: false, reason: 'LOCKED_OUT', retryAfterMs: 1 });
    expect(checkAttempt(five.state, five.nowMs + 15 * MIN)).toEqual({ allowed: true });
  });

  it('after the lockout passes the count starts again', () => {
    const five = failRepeatedly(5);
    const after = recordFailure(five.state, five.nowMs + 15 * MIN);
    expect(after).toEqual({ state: { failures: 1, lastFailureAtMs: five.nowMs + 15 * MIN, lockedUntilMs: null }, lockedOut: false });
  });

  it('a quiet window forgets failures', () => {
    const three = failRepeatedly(3);
    expect(isExpired(three.state, three.nowMs + 15 * MIN)).toBe(true);
    expect(recordFailure(three.state, three.nowMs + 15 * MIN).state.failures).toBe(1);
  });

  it('a configured policy', () => {
    const policy = { ...defaultThrottlePolicy, maxFailures: 2, lockoutMs: MIN, backoffBaseMs: 0 };
    const first = recordFailure(undefined, 0, policy);
    expect(checkAttempt(first.state, 0, policy)).toEqual({ allowed: true });
    const second = recordFailure(first.state, 0, policy);
    expect(second.lockedOut).toBe(true);
    expect(checkAttempt(second.state, MIN - 1, policy)).toMatchObject({ allowed: false, reason: 'LOCKED_OUT' });
  });

  it('success clears the username counter', () => {
    expect(recordSuccess()).toBeUndefined();
  });
});

describe('checkLogin combines username and IP', () => {
  const locked = failRepeatedly(5).state;
  const backoff = recordFailure(undefined, 0).state;
  it.each([
    ['no history', {}, 1, { allowed: true }],
    ['username locked', { username: locked }, 1_000, { allowed: false, scope: 'username', reason: 'LOCKED_OUT' }],
    ['ip locked, username clean', { ip: locked }, 1_000, { allowed: false, scope: 'ip', reason: 'LOCKED_OUT' }],
    ['the longer wait wins', { username: backoff, ip: locked }, 500, { allowed: false, scope: 'ip', reason: 'LOCKED_OUT' }],
  ])('%s', (_case, states, nowMs, expected) => {
    expect(checkLogin(states, nowMs)).toMatchObject(expected);
  });
});

describe('keys', () => {
  it.each([
    ['Alice', 'user:alice'],
    [' ALICE ', 'user:alice'],
  ])('username %j', (name, key) => expect(usernameThrottleKey(name)).toBe(key));

  it.each([
    ['203.0.113.7', 'ip:203.0.113.7'],
    ['::ffff:203.0.113.7', 'ip:203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', 'ip6:2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', 'ip6:2001:db8:1:2::/64'],
    ['2001:DB8::1', 'ip6:2001:db8:0:0::/64'],
    ['::1', 'ip6:0:0:0:0::/64'],
  ])('ip %s', (ip, key) => expect(ipThrottleKey(ip)).toBe(key));
});

describe('property: an attacker gets at most maxFailures guesses per lockout period', () => {
  it('holds for any timing of attempts', async () => {
    const fc = await import('fast-check');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 * MIN }), { minLength: 1, maxLength: 60 }), (gaps) => {
        let state: AttemptState | undefined;
        let nowMs = 0;
        const accepted: number[] = [];
        for (const gap of gaps) {
          nowMs += gap;
          if (!checkAttempt(state, nowMs).allowed) continue;
          accepted.push(nowMs);
          state = recordFailure(state, nowMs).state;
        }
        // In every half-open window of lockoutMs, at most maxFailures guesses were accepted.
        for (let i = 0; i < accepted.length; i++) {
          const inWindow = accepted.filter((t) => t >= accepted[i]! && t < accepted[i]! + defaultThrottlePolicy.lockoutMs).length;
          if (inWindow > defaultThrottlePolicy.maxFailures) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
