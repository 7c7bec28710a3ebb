/**
 * The password step of `Login`, as one pure decision over ports: throttle → verify (or a dummy
 * verify for an unknown user, so timing and answer are the same) → second factor → what to store
 * and what to audit. The caller loads the user, throttle states and 2FA policy, calls this, then
 * persists `throttle`, `rehashedPhc`, `totp` and the `audit` events, and mints tokens on `ok`.
 *
 * Failures of the password *and* of the second factor count towards the lockout: otherwise a
 * stolen password would allow unlimited guessing of 6-digit codes.
 */
import type { AuditEventInput } from './audit-event.ts';
import { checkLogin, defaultThrottlePolicy, recordFailure, type AttemptState, type ThrottlePolicy } from './login-throttle.ts';
import type { Clock, PasswordHasher } from './ports.ts';
import { secondFactorFor, type TotpEnrollment, type TwoFactor, type TwoFactorRequirement } from './two-factor.ts';

export interface LoginCandidate {
  id: string;
  passwordPhc: string;
  totp?: TotpEnrollment | undefined;
}

export interface PasswordLoginInput {
  password: string;
  /** A TOTP code, or a recovery code (`xxxxx-xxxxx`). */
  secondFactor?: string | undefined;
  ip: string | null;
  accountId: string | null;
  /** undefined when no user has that username. */
  user: LoginCandidate | undefined;
  throttle: { username?: AttemptState | undefined; ip?: AttemptState | undefined };
  /** The 2FA requirement of the account being logged into, root-first. */
  twoFactorPath: readonly TwoFactorRequirement[];
}

export type LoginRefusal = 'INVALID_CREDENTIALS' | 'LOCKED_OUT' | 'TWO_FACTOR_REQUIRED' | 'TWO_FACTOR_INVALID' | 'TWO_FACTOR_ENROLLMENT_REQUIRED';

/** New throttle states to store: `undefined` = delete the entry, absent key = leave as is. */
export interface ThrottleUpdate {
  username?: AttemptState | undefined;
  ip?: AttemptState | undefined;
}

export type PasswordLoginOutcome =
  | { ok: true; userId: string; rehashedPhc: string | undefined; totp: TotpEnrollment | undefined; throttle: ThrottleUpdate; audit: AuditEventInput[] }
  | { ok: false; reason: LoginRefusal; retryAfterMs: number | undefined; totp: TotpEnrollment | undefined; throttle: ThrottleUpdate; audit: AuditEventInput[] };

export interface PasswordLoginDeps {
  hasher: PasswordHasher;
  twoFactor: TwoFactor;
  clock: Clock;
  policies?: { username?: ThrottlePolicy; ip?: ThrottlePolicy };
}

export async function decidePasswordLogin(input: PasswordLoginInput, deps: PasswordLoginDeps): Promise<PasswordLoginOutcome> {
  const nowMs = deps.clock.nowMs();
  const base = { actorUserId: input.user?.id ?? null, accountId: input.accountId, ip: input.ip };
  const gate = checkLogin(input.throttle, nowMs, deps.policies);
  if (!gate.allowed) {
    return { ok: false, reason: 'LOCKED_OUT', retryAfterMs: gate.retryAfterMs, totp: undefined, throttle: {}, audit: [{ ...base, kind: 'login_failed', outcome: 'denied', reason: gate.reason, details: { scope: gate.scope } }] };
  }

  const passwordOk = input.user ? await deps.hasher.verify(input.user.passwordPhc, input.password) : await deps.hasher.verifyDummy(input.password);
  if (!passwordOk || input.user === undefined) return fail('INVALID_CREDENTIALS', undefined);
  const user = input.user;

  const second = secondFactorFor(user.totp, input.twoFactorPath);
  let totp: TotpEnrollment | undefined;
  const audit: AuditEventInput[] = [];
  if (second.needed && second.reason === 'ENROLLMENT_REQUIRED') {
    // Password was right: not a failure, but no tokens until the user enrolls.
    return { ok: false, reason: 'TWO_FACTOR_ENROLLMENT_REQUIRED', retryAfterMs: undefined, totp: undefined, throttle: {}, audit: [{ ...base, kind: 'login_failed', outcome: 'denied', reason: 'TWO_FACTOR_ENROLLMENT_REQUIRED' }] };
  }
  if (second.needed) {
    const code = input.secondFactor?.trim();
    if (!code) return { ok: false, reason: 'TWO_FACTOR_REQUIRED', retryAfterMs: undefined, totp: undefined, throttle: {}, audit: [] };
    const isRecovery = /[a-z-]/i.test(code);
    const checked = isRecovery ? deps.twoFactor.useRecoveryCode(user.totp, code) : deps.twoFactor.verify(user.totp, code);
    if (!checked.ok) return fail('TWO_FACTOR_INVALID', checked.reason);
    totp = checked.enrollment;
    if (isRecovery) audit.push({ ...base, kind: 'recovery_code_used', outcome: 'success', details: { remaining: String(totp.recoveryCodeHashes.length) } });
  }

  const rehashedPhc = deps.hasher.needsRehash(user.passwordPhc) ? await deps.hasher.hash(input.password) : undefined;
  audit.push({ ...base, kind: 'login_ok', outcome: 'success', ...(rehashedPhc ? { details: { hash_upgraded: 'true' } } : {}) });
  // Success clears the username counter; the IP counter is left as it is (see login-throttle.ts).
  return { ok: true, userId: user.id, rehashedPhc, totp, throttle: { username: undefined }, audit };

  function fail(reason: 'INVALID_CREDENTIALS' | 'TWO_FACTOR_INVALID', detail: string | undefined): PasswordLoginOutcome {
    const username = recordFailure(input.throttle.username, nowMs, deps.policies?.username ?? defaultThrottlePolicy);
    const ip = recordFailure(input.throttle.ip, nowMs, deps.policies?.ip ?? defaultThrottlePolicy);
    const events: AuditEventInput[] = [{ ...base, kind: 'login_failed', outcome: 'failure', reason, ...(detail ? { details: { detail } } : {}) }];
    if (username.lockedOut) events.push({ ...base, kind: 'lockout', outcome: 'success', reason: 'USERNAME_FAILURES' });
    if (ip.lockedOut) events.push({ ...base, kind: 'lockout', outcome: 'success', reason: 'IP_FAILURES' });
    return { ok: false, reason, retryAfterMs: undefined, totp: undefined, throttle: { username: username.state, ip: ip.state }, audit: events };
  }
}
