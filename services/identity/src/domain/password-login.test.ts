import { describe, expect, it } from 'vitest';
import { OtpauthTotpEngine } from '../crypto/otpauth-totp-engine.ts';
import { createAuditEvent } from './audit-event.ts';
import { decidePasswordLogin, type LoginCandidate, type PasswordLoginInput } from './password-login.ts';
import type { PasswordHasher } from './ports.ts';
import { FakeClock, FakeDigest, SeededRandom } from '../../test/doubles/test-doubles.ts';
import { TwoFactor } from './two-factor.ts';

/** Plaintext "hash" with a version tag, counting calls: lets the test see the dummy path run. */
class FakeHasher implements PasswordHasher {
  version = 'v2';
  calls: string[] = [];
  async hash(password: string) {
    this.calls.push('hash');
    return `${this.version}:${password}`;
  }
  async verify(phc: string, password: string) {
    this.calls.push('verify');
    return phc.slice(phc.indexOf(':') + 1) === password;
  }
  needsRehash(phc: string) {
    return !phc.startsWith(`${this.version}:`);
  }
  async verifyDummy(_password: string): Promise<false> {
    this.calls.push('dummy');
    return false;
  }
}

const engine = new OtpauthTotpEngine();

/** Every audit event the login decides on must pass the audit constructor's secret filter. */
function assertAuditable<T extends { audit: Parameters<typeof createAuditEvent>[0][] }>(outcome: T): T {
  for (const event of outcome.audit) createAuditEvent(event, { clock: new FakeClock(), newId: () => 'aud_1' });
  return outcome;
}

function setup() {
  const clock = new FakeClock(1_700_000_000_000);
  const hasher = new FakeHasher();
  const twoFactor = new TwoFactor({ engine, random: new SeededRandom(), digest: new FakeDigest(), clock });
  const alice: LoginCandidate = { id: 'usr_alice', passwordPhc: 'v2:a sturdy passphrase' };
  const input = (over: Partial<PasswordLoginInput> = {}): PasswordLoginInput => ({ password: 'a sturdy passphrase', ip: '203.0.113.7', accountId: 'acc_1', user: alice, throttle: {}, twoFactorPath: [], ...over });
  return { clock, hasher, twoFactor, alice, input, deps: { hasher, twoFactor, clock } };
}

describe('decidePasswordLogin', () => {
  it('a good password logs in, clears the username counter and audits login_ok', async () => {
    const { input, deps } = setup();
    const outcome = assertAuditable(await decidePasswordLogin(input(), deps));
    expect(outcome).toMatchObject({ ok: true, userId: 'usr_alice', rehashedPhc: undefined, throttle: { username: undefined } });
    expect(outcome.audit.map((event) => event.kind)).toEqual(['login_ok']);
  });

  it('wrong password and unknown user answer the same, both run a verify, both count', async () => {
    const { input, deps, hasher } = setup();
    const wrong = assertAuditable(await decidePasswordLogin(input({ password: 'not the passphrase' }), deps));
    const unknown = assertAuditable(await decidePasswordLogin(input({ user: undefined }), deps));
    expect(hasher.calls).toEqual(['verify', 'dummy']);
    for (const outcome of [wrong, unknown]) {
      expect(outcome).toMatchObject({ ok: false, reason: 'INVALID_CREDENTIALS', throttle: { username: { failures: 1 }, ip: { failures: 1 } } });
      expect(outcome.audit.map((event) => event.kind)).toEqual(['login_failed']);
    }
  });

  it('the fifth failure audits a lockout; then even the right password is refused without hashing', async () => {
    const { input, deps, clock, hasher } = setup();
    let throttle: PasswordLoginInput['throttle'] = {};
    let last;
    for (let i = 0; i < 5; i++) {
      clock.advance(60_000); // past each backoff
      last = assertAuditable(await decidePasswordLogin(input({ password: 'nope nope nope', throttle }), deps));
      throttle = { ...throttle, ...last.throttle };
    }
    expect(last?.audit.map((event) => event.kind)).toEqual(['login_failed', 'lockout', 'lockout']);
    hasher.calls = [];
    const locked = assertAuditable(await decidePasswordLogin(input({ throttle }), deps));
    expect(locked).toMatchObject({ ok: false, reason: 'LOCKED_OUT', retryAfterMs: 15 * 60_000 });
    expect(hasher.calls).toEqual([]);
  });

  it.each([
    [1, false],
    [2, false],
    [3, true],
    [6, true],
  ])('with %i addresses failing and the username at its limit, account-wide lockout: %s', async (addresses, locks) => {
    const { input, deps } = setup();
    const nearLimit = { failures: 4, lastFailureAtMs: deps.clock.nowMs() - 120_000, lockedUntilMs: null };
    const outcome = assertAuditable(await decidePasswordLogin(input({ password: 'nope nope nope', throttle: { username: nearLimit }, otherAddresses: addresses - 1 }), deps));
    expect(outcome.audit.some((e) => e.kind === 'lockout' && e.reason === 'DISTRIBUTED_FAILURES')).toBe(locks);
    expect(outcome.throttle.username?.lockedUntilMs !== null).toBe(locks);
    // The pair itself (one failure from this address) is never locked by this.
    expect(outcome.throttle.pair).toMatchObject({ failures: 1, lockedUntilMs: null });
  });

  it('rehashes on login when the parameters changed', async () => {
    const { input, deps, alice } = setup();
    const outcome = assertAuditable(await decidePasswordLogin(input({ user: { ...alice, passwordPhc: 'v1:a sturdy passphrase' } }), deps));
    expect(outcome).toMatchObject({ ok: true, rehashedPhc: 'v2:a sturdy passphrase' });
    expect(outcome.audit[0]?.details).toEqual({ hash_upgraded: 'true' });
  });

  describe('with TOTP', () => {
    function enrolled() {
      const ctx = setup();
      const { enrollment, secret } = ctx.twoFactor.enroll('alice');
      const confirmed = ctx.twoFactor.confirm(enrollment, engine.generate(secret, ctx.clock.nowMs()));
      if (!confirmed.ok) throw new Error('confirm');
      ctx.clock.advance(60_000);
      return { ...ctx, secret, user: { ...ctx.alice, totp: confirmed.enrollment }, recoveryCodes: confirmed.recoveryCodes };
    }

    it.each([
      ['no code → asks for it, not a failure', () => undefined, { ok: false, reason: 'TWO_FACTOR_REQUIRED', throttle: {} }],
      ['a wrong code counts as a failure', () => '000000', { ok: false, reason: 'TWO_FACTOR_INVALID', throttle: { username: { failures: 1 } } }],
    ])('%s', async (_case, code, expected) => {
      const { input, deps, user } = enrolled();
      expect(assertAuditable(await decidePasswordLogin(input({ user, secondFactor: code() }), deps))).toMatchObject(expected);
    });

    it('a right code logs in and records the step; the same code again is refused', async () => {
      const { input, deps, user, secret, clock } = enrolled();
      const code = engine.generate(secret, clock.nowMs());
      const first = assertAuditable(await decidePasswordLogin(input({ user, secondFactor: code }), deps));
      expect(first.ok).toBe(true);
      const second = assertAuditable(await decidePasswordLogin(input({ user: { ...user, totp: first.totp }, secondFactor: code }), deps));
      expect(second).toMatchObject({ ok: false, reason: 'TWO_FACTOR_INVALID' });
    });

    it('a recovery code works once and is audited', async () => {
      const { input, deps, user, recoveryCodes } = enrolled();
      const outcome = assertAuditable(await decidePasswordLogin(input({ user, secondFactor: recoveryCodes[0] }), deps));
      expect(outcome.ok && outcome.totp?.recoveryCodeHashes).toHaveLength(9);
      expect(outcome.audit.map((event) => event.kind)).toEqual(['recovery_code_used', 'login_ok']);
    });

    it('an account requiring 2FA refuses a user without it until they enroll', async () => {
      const { input, deps } = setup();
      const outcome = assertAuditable(await decidePasswordLogin(input({ twoFactorPath: [{ accountId: 'acc_1', requireTwoFactor: true }] }), deps));
      expect(outcome).toMatchObject({ ok: false, reason: 'TWO_FACTOR_ENROLLMENT_REQUIRED' });
    });
  });
});
