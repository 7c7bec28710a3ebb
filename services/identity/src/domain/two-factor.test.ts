import { describe, expect, it } from 'vitest';
import { OtpauthTotpEngine } from '../crypto/otpauth-totp-engine.ts';
import { FakeClock, FakeDigest, SeededRandom } from '../../test/doubles/test-doubles.ts';
import { RECOVERY_CODE_COUNT, TwoFactor, isTwoFactorRequired, secondFactorFor, type TotpEnrollment } from './two-factor.ts';

// The engine is deterministic maths (HMAC), so the domain test runs it under a fake clock.
const engine = new OtpauthTotpEngine();

function setup() {
  const clock = new FakeClock(1_700_000_010_000);
  const twoFactor = new TwoFactor({ engine, random: new SeededRandom(), digest: new FakeDigest(), clock });
  return { clock, twoFactor };
}

function activeEnrollment() {
  const { clock, twoFactor } = setup();
  const { enrollment, secret } = twoFactor.enroll('alice');
  const confirmed = twoFactor.confirm(enrollment, engine.generate(secret, clock.nowMs()));
  if (!confirmed.ok) throw new Error('confirm failed');
  return { clock, twoFactor, secret, enrollment: confirmed.enrollment, recoveryCodes: confirmed.recoveryCodes };
}

describe('TwoFactor enrollment', () => {
  it('enroll returns a secret and an otpauth URI; confirm needs a valid first code', () => {
    const { clock, twoFactor } = setup();
    const { enrollment, secret, uri } = twoFactor.enroll('alice@acme');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(uri).toContain(`secret=${secret}`);
    expect(enrollment.status).toBe('pending');
    expect(twoFactor.confirm(enrollment, '000000')).toEqual({ ok: false, reason: 'INVALID_CODE' });
    const confirmed = twoFactor.confirm(enrollment, engine.generate(secret, clock.nowMs()));
    expect(confirmed.ok && confirmed.enrollment.status).toBe('active');
  });

  it('issues 10 distinct recovery codes, stored only hashed', () => {
    const { enrollment, recoveryCodes } = activeEnrollment();
    expect(recoveryCodes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(recoveryCodes).size).toBe(RECOVERY_CODE_COUNT);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect(enrollment.recoveryCodeHashes.some((hash) => recoveryCodes.includes(hash))).toBe(false);
  });

  it('refuses to re-enroll over an active enrollment and to confirm twice', () => {
    const { twoFactor, enrollment } = activeEnrollment();
    expect(() => twoFactor.enroll('alice', enrollment)).toThrow(/already active/);
    expect(() => twoFactor.confirm(enrollment, '123456')).toThrow(/no pending/);
  });
});

describe('TwoFactor verify', () => {
  it('accepts a fresh code, then refuses the same code again (replay)', () => {
    const { clock, twoFactor, secret, enrollment } = activeEnrollment();
    clock.advance(30_000);
    const code = engine.generate(secret, clock.nowMs());
    const first = twoFactor.verify(enrollment, code);
    if (!first.ok) throw new Error(first.reason);
    expect(twoFactor.verify(first.enrollment, code)).toEqual({ ok: false, reason: 'REPLAYED' });
    clock.advance(29_000); // still within the ±1 window of that step
    expect(twoFactor.verify(first.enrollment, code)).toEqual({ ok: false, reason: 'REPLAYED' });
  });

  it('the confirmation code cannot be replayed at login', () => {
    const { clock, twoFactor, secret, enrollment } = activeEnrollment();
    expect(twoFactor.verify(enrollment, engine.generate(secret, clock.nowMs()))).toEqual({ ok: false, reason: 'REPLAYED' });
  });

  it.each([
    ['previous step (drift)', -30_000, 'ok'],
    ['next step (drift)', 30_000, 'ok'],
    ['two steps old', -60_000, 'INVALID_CODE'],
    ['two steps ahead', 60_000, 'INVALID_CODE'],
  ])('a code from the %s', (_case, offsetMs, expected) => {
    const { clock, twoFactor, secret, enrollment } = activeEnrollment();
    clock.advance(120_000);
    const result = twoFactor.verify(enrollment, engine.generate(secret, clock.nowMs() + offsetMs));
    expect(result.ok ? 'ok' : result.reason).toBe(expected);
  });

  it('an older step is refused once a newer one was used', () => {
    const { clock, twoFactor, secret, enrollment } = activeEnrollment();
    clock.advance(120_000);
    const newer = twoFactor.verify(enrollment, engine.generate(secret, clock.nowMs() + 30_000));
    if (!newer.ok) throw new Error(newer.reason);
    expect(twoFactor.verify(newer.enrollment, engine.generate(secret, clock.nowMs()))).toEqual({ ok: false, reason: 'REPLAYED' });
  });

  it('accepts a code typed with a space; refuses without enrollment', () => {
    const { clock, twoFactor, secret, enrollment } = activeEnrollment();
    clock.advance(30_000);
    const code = engine.generate(secret, clock.nowMs());
    expect(twoFactor.verify(enrollment, `${code.slice(0, 3)} ${code.slice(3)}`).ok).toBe(true);
    expect(twoFactor.verify(undefined, code)).toEqual({ ok: false, reason: 'NOT_ENROLLED' });
    expect(twoFactor.verify({ ...enrollment, status: 'pending' } as TotpEnrollment, code)).toEqual({ ok: false, reason: 'NOT_ENROLLED' });
  });
});

describe('recovery codes', () => {
  it('each works once, in any case and without the dash', () => {
    const { twoFactor, enrollment, recoveryCodes } = activeEnrollment();
    const code = recoveryCodes[3]!;
    const used = twoFactor.useRecoveryCode(enrollment, code.toUpperCase().replace('-', ''));
    if (!used.ok) throw new Error(used.reason);
    expect(used.remaining).toBe(9);
    expect(twoFactor.useRecoveryCode(used.enrollment, code)).toEqual({ ok: false, reason: 'INVALID_CODE' });
    expect(twoFactor.useRecoveryCode(used.enrollment, recoveryCodes[4]!).ok).toBe(true);
  });

  it('regeneration invalidates the old set', () => {
    const { twoFactor, enrollment, recoveryCodes } = activeEnrollment();
    const fresh = twoFactor.regenerateRecoveryCodes(enrollment);
    expect(fresh.recoveryCodes).toHaveLength(10);
    expect(twoFactor.useRecoveryCode(fresh.enrollment, recoveryCodes[0]!)).toEqual({ ok: false, reason: 'INVALID_CODE' });
    expect(twoFactor.useRecoveryCode(fresh.enrollment, fresh.recoveryCodes[0]!).ok).toBe(true);
  });
});

describe('account-level "require 2FA for all members"', () => {
  const path = (...flags: boolean[]) => flags.map((requireTwoFactor, i) => ({ accountId: `acc_${i}`, requireTwoFactor }));
  it.each([
    ['nobody requires it', path(false, false), false],
    ['the account requires it', path(false, true), true],
    ['an ancestor requires it', path(true, false), true],
  ])('%s', (_case, accounts, required) => expect(isTwoFactorRequired(accounts)).toBe(required));

  it.each([
    ['enrolled user, no requirement', true, path(false), { needed: true, reason: 'ENROLLED' }],
    ['not enrolled, required', false, path(true), { needed: true, reason: 'ENROLLMENT_REQUIRED' }],
    ['not enrolled, not required', false, path(false), { needed: false }],
  ])('secondFactorFor: %s', (_case, enrolled, accounts, expected) => {
    const enrollment = enrolled ? activeEnrollment().enrollment : undefined;
    expect(secondFactorFor(enrollment, accounts)).toEqual(expected);
  });
});
