import { describe, expect, it } from 'vitest';
import { backoffMs, CredentialThrottle, type ThrottleEpisode } from './credential-throttle.ts';

function setup(policy = {}) {
  const clock = { t: 0 };
  const episodes: ThrottleEpisode[] = [];
  const throttle = new CredentialThrottle({ policy: { maxFailuresPerAddress: 3, maxFailuresPerUsername: 2, backoffBaseMs: 1_000, backoffMaxMs: 8_000, windowMs: 60_000, ...policy }, nowMs: () => clock.t, onEpisode: (e) => episodes.push(e) });
  return { clock, throttle, episodes };
}

describe('CredentialThrottle', () => {
  it.each([
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [10, 8_000],
  ])('backoff after %i extra failures is %i ms', (extra, ms) => {
    expect(backoffMs(extra, { backoffBaseMs: 1_000, backoffMaxMs: 8_000 })).toBe(ms);
  });

  it('blocks a username at its threshold, for the backoff, then lets the next try through', () => {
    const { clock, throttle } = setup();
    throttle.recordFailure('10.0.0.1', 'u1');
    expect(throttle.check('10.0.0.2', 'u1')).toEqual({ allowed: true });
    throttle.recordFailure('10.0.0.2', 'u1');
    expect(throttle.check('10.0.0.3', 'u1')).toEqual({ allowed: false, scope: 'username', retryAfterMs: 1_000 });
    clock.t += 999;
    expect(throttle.check('10.0.0.3', 'u1').allowed).toBe(false);
    clock.t += 1;
    expect(throttle.check('10.0.0.3', 'u1')).toEqual({ allowed: true });
  });

  it('blocks an address over every username at its threshold; the longer wait wins', () => {
    const { throttle } = setup();
    for (const u of ['a', 'b', 'c']) throttle.recordFailure('10.0.0.9', u);
    expect(throttle.check('10.0.0.9', 'fresh')).toEqual({ allowed: false, scope: 'address', retryAfterMs: 1_000 });
    expect(throttle.check('10.0.0.8', 'fresh')).toEqual({ allowed: true });
    expect(throttle.check('10.0.0.9', undefined).allowed).toBe(false); // anonymous too
  });

  it('a success clears the username (not the address) and reports the episode over', () => {
    const { throttle, episodes, clock } = setup();
    throttle.recordFailure('10.0.0.1', 'u');
    throttle.recordFailure('10.0.0.1', 'u');
    throttle.check('10.0.0.1', 'u');
    throttle.check('10.0.0.1', 'u');
    clock.t += 1_000;
    throttle.recordSuccess('u');
    expect(throttle.check('10.0.0.1', 'u')).toEqual({ allowed: true });
    expect(episodes.map((e) => [e.phase, e.scope, e.refused])).toEqual([
      ['started', 'username', 0],
      ['ended', 'username', 2],
    ]);
  });

  it('forgets a key after a quiet window', () => {
    const { throttle, clock } = setup();
    throttle.recordFailure('10.0.0.1', 'u');
    clock.t += 60_000;
    throttle.recordFailure('10.0.0.1', 'u');
    expect(throttle.check('10.0.0.1', 'u')).toEqual({ allowed: true });
  });

  it('holds at most maxEntries keys', () => {
    const { throttle } = setup({ maxEntries: 10, maxFailuresPerAddress: 1_000 });
    for (let i = 0; i < 100; i++) throttle.recordFailure('10.0.0.1', `u${i}`);
    expect(throttle.size).toBe(10);
  });
});
