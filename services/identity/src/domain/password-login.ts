/**
 * The password step of `Login`, as one pure decision over ports: throttle → verify (or a dummy
 * verify for an unknown user, so timing and answer are the same) → second factor → what to store
 * and what to audit. The caller loads the user, throttle states and 2FA policy, calls this, then
 * persists `throttle`, `rehashedPhc`, `totp` and the `audit` events, and mints tokens on `ok`.
 *
 * Failures of the password *and* of the second factor count towards the lockout: otherwise a
 * stolen password would allow unlimited guessing of 6-digit codes.
 *
 * Lockouts are per (username, address) first; the username is locked from every address only when
 * the failures come from `distinctAddresses` or more addresses within the window (login-throttle.ts).
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
  throttle: { pair?: AttemptState | undefined; username?: AttemptState | undefined; ip?: AttemptState | undefined };
  /** Other addresses with recent failures for this username (not counting this attempt's). */
  otherAddresses?: number;
  /** The 2FA requirement of the account being logged into, root-first. */
  twoFactorPath: readonly TwoFactorRequirement[];
}

export type LoginRefusal = 'INVALID_CREDENTIALS' | 'LOCKED_OUT' | 'TWO_FACTOR_REQUIRED' | 'TWO_FACTOR_INVALID' | 'TWO_FACTOR_ENROLLMENT_REQUIRED';

/** New throttle states to store: `undefined` = delete the entry, absent key = leave as is. */
export interface ThrottleUpdate {
  pair?: AttemptState | undefined;
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
  policies?: LoginThrottlePolicies;
}

export interface LoginThrottlePolicies {
  pair?: ThrottlePolicy;
  ip?: ThrottlePolicy;
  /** The account-wide key: its `maxFailures` applies once the attack is distributed; no backoff of its own. */
  username?: ThrottlePolicy;
  /** Addresses with failures within the window that make an attack distributed. Default 3. */
  distinctAddresses?: number;
}

export const DEFAULT_DISTINCT_ADDRESSES = 3;

export async function decidePasswordLogin(input: PasswordLoginInput, deps: PasswordLoginDeps): Promise<PasswordLoginOutcome> {
  const nowMs = deps.clock.nowMs();
  const base = { actorUserId: input.user?.id ?? null, accountId: input.accountId, ip: input.ip };
  const policies = deps.policies ?? {};
  const usernamePolicy: ThrottlePolicy = { ...(policies.username ?? defaultThrottlePolicy), backoffBaseMs: 0 };
  const gate = checkLogin(input.throttle, nowMs, { pair: policies.pair ?? defaultThrottlePolicy, ip: policies.ip ?? defaultThrottlePolicy, username: usernamePolicy });
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
  // Success clears the pair and username counters; the IP counter is left as it is (see login-throttle.ts).
  return { ok: true, userId: user.id, rehashedPhc, totp, throttle: { pair: undefined, username: undefined }, audit };

  function fail(reason: 'INVALID_CREDENTIALS' | 'TWO_FACTOR_INVALID', detail: string | undefined): PasswordLoginOutcome {
    const pair = recordFailure(input.throttle.pair, nowMs, policies.pair ?? defaultThrottlePolicy);
    const ip = recordFailure(input.throttle.ip, nowMs, policies.ip ?? defaultThrottlePolicy);
    // This address now has a failure too: the attack is distributed once enough addresses do.
    const addresses = (input.otherAddresses ?? 0) + 1;
    const distributed = addresses >= (policies.distinctAddresses ?? DEFAULT_DISTINCT_ADDRESSES);
    const username = recordFailure(input.throttle.username, nowMs, distributed ? usernamePolicy : { ...usernamePolicy, maxFailures: Number.POSITIVE_INFINITY });
    const events: AuditEventInput[] = [{ ...base, kind: 'login_failed', outcome: 'failure', reason, ...(detail ? { details: { detail } } : {}) }];
    if (pair.lockedOut) events.push({ ...base, kind: 'lockout', outcome: 'success', reason: 'USERNAME_ADDRESS_FAILURES' });
    if (username.lockedOut) events.push({ ...base, kind: 'lockout', outcome: 'success', reason: 'DISTRIBUTED_FAILURES', details: { addresses: String(addresses) } });
    if (ip.lockedOut) events.push({ ...base, kind: 'lockout', outcome: 'success', reason: 'IP_FAILURES' });
    return { ok: false, reason, retryAfterMs: undefined, totp: undefined, throttle: { pair: pair.state, username: username.state, ip: ip.state }, audit: events };
  }
}
