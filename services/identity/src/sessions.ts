import { randomUUID } from 'node:crypto';
import { AppError, invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import { currentCall } from '#libs/rpc/call-context.ts';
import { createAuditEvent, type AuditEventInput } from './domain/audit-event.ts';
import { checkLogin, defaultThrottlePolicy, ipThrottleKey, pairThrottleKey, pairThrottlePrefix, recordFailure, usernameThrottleKey, type ThrottlePolicy } from './domain/login-throttle.ts';
import { DEFAULT_DISTINCT_ADDRESSES, decidePasswordLogin, type LoginRefusal } from './domain/password-login.ts';
import { assertPasswordPolicy } from './domain/password-policy.ts';
import type { AuditStore, Clock, IdentityStore, PasswordHasher, SecretDigest, ThrottleStore, TotpStore } from './domain/ports.ts';
import type { RefreshTokenService, RefreshTokenStore } from './domain/refresh-tokens.ts';
import { rolesForToken, type Role } from './domain/roles.ts';
import type { TwoFactor } from './domain/two-factor.ts';
import type { SigningKeyRing } from './crypto/signing-key-ring.ts';
import { isSsoRequired, secondFactorAfterSso } from './domain/sso-policy.ts';
import { KeyedMutex } from './keyed-mutex.ts';

export interface Session {
  accessToken: string;
  accessExpiresAtMs: number;
  refreshToken: string;
  refreshExpiresAtMs: number;
  userId: string;
  accountId: string;
}

export type LoginResult =
  | { allowed: true; session: Session }
  | { allowed: false; reason: LoginRefusal | 'ACCOUNT_SUSPENDED' | 'SSO_REQUIRED'; retryAfterMs: number | undefined };

export interface LoginInput {
  username: string;
  password: string;
  totpCode?: string | undefined;
  accountId?: string | undefined;
  /** The client's address for the per-IP throttle; null when unknown. */
  peerIp: string | null;
}

/**
 * Who is checking a password. `login`: a person at Login or ChangePassword. `check`: authz
 * verifying a username + password an MQTT client or a broker adapter presented (VerifyPassword).
 * The two never share a throttle counter: a device retrying a stale password, or a fuzzer, locks
 * out only further checks — never the person's interactive login.
 */
export type PasswordChannel = 'login' | 'check';

/** The throttle keys of one attempt, namespaced by channel. */
function throttleKeys(channel: PasswordChannel, username: string, peerIp: string | null) {
  const ns = channel === 'check' ? 'chk:' : '';
  return {
    user: `${ns}${usernameThrottleKey(username)}`,
    pair: `${ns}${pairThrottleKey(username, peerIp)}`,
    pairPrefix: `${ns}${pairThrottlePrefix(username)}`,
    ip: peerIp ? `${ns}${ipThrottleKey(peerIp)}` : undefined,
  };
}

export type RefreshResult = { allowed: true; session: Session } | { allowed: false; reason: string };

/**
 * Password login, access tokens (EdDSA JWT, `kid`, claims sub/acc/roles) and rotating refresh
 * tokens with reuse detection, password changes; every security event goes to the audit log.
 *
 * A username's login runs one at a time in this process (`KeyedMutex`): the throttle counters and
 * the TOTP replay guard are read, decided on and written without a parallel burst of guesses
 * slipping between. The per-IP counter is re-read and incremented under its own short lock.
 */
export function createSessions(deps: {
  store: IdentityStore;
  hasher: PasswordHasher;
  totp: Pick<TotpStore, 'get' | 'advance'>;
  ring: SigningKeyRing;
  refresh: RefreshTokenService;
  /** Families and tokens as stored (who a refresh token belongs to, without spending it). */
  refreshStore: Pick<RefreshTokenStore, 'findToken' | 'getFamily'>;
  digest: SecretDigest;
  throttle: ThrottleStore;
  audit: Pick<AuditStore, 'append'>;
  twoFactor: TwoFactor;
  clock: Clock;
  accessTokenTtlMs: number;
  /** The (username, address) and account-wide policy. */
  throttlePolicy?: ThrottlePolicy | undefined;
  /** Failures from one address over every username before it is locked (password spraying). Default 20. */
  maxFailuresPerAddress?: number | undefined;
  /** Addresses failing for one username within the window that lock it everywhere. Default 3. */
  distinctAddresses?: number | undefined;
  /** Ends the user's sessions elsewhere too (the OAuth provider's sign-in sessions, grants and tokens). */
  endOtherSessions?: ((userId: string) => Promise<void>) | undefined;
}) {
  const policy = deps.throttlePolicy ?? defaultThrottlePolicy;
  // An address over every username only locks at its (higher) threshold, without a backoff of its
  // own: behind one NAT, one person mistyping must not slow everyone else's logins down.
  const ipPolicy: ThrottlePolicy = { ...policy, maxFailures: deps.maxFailuresPerAddress ?? 20, backoffBaseMs: 0 };
  const policies = { pair: policy, username: policy, ip: ipPolicy, distinctAddresses: deps.distinctAddresses ?? DEFAULT_DISTINCT_ADDRESSES };
  const userLocks = new KeyedMutex();
  const ipLocks = new KeyedMutex();
  // Every event carries the request id of the call it happened in (the handler's call context).
  const audit = (inputs: readonly AuditEventInput[]) =>
    deps.audit.append(
      inputs.map((input) => createAuditEvent({ requestId: currentCall.getStore()?.requestId ?? null, ...input }, { clock: deps.clock, newId: () => `evt_${randomUUID().replaceAll('-', '')}` })),
    );

  async function issue(userId: string, accountId: string, refresh: { token: string; expiresAtMs: number }): Promise<Session> {
    const user = await deps.store.getUser(userId);
    const path = (await deps.store.accountPath(accountId)).map((a) => a.id);
    const roles = rolesForToken(user?.memberships ?? [], path);
    const access = await deps.ring.issueAccessToken({ sub: userId, acc: accountId, roles }, deps.accessTokenTtlMs);
    return { accessToken: access.token, accessExpiresAtMs: access.expiresAtMs, refreshToken: refresh.token, refreshExpiresAtMs: refresh.expiresAtMs, userId, accountId };
  }

  /** One more failure on the IP's counter, from its current state (not the one read before hashing). */
  async function ipFailure(ipKey: string): Promise<boolean> {
    return ipLocks.run(ipKey, async () => {
      const next = recordFailure(await deps.throttle.get(ipKey), deps.clock.nowMs(), ipPolicy);
      await deps.throttle.put(ipKey, next.state);
      return next.lockedOut;
    });
  }

  type PasswordStep =
    | { ok: true; userId: string; accountId: string; role: Role }
    | { ok: false; reason: LoginRefusal | 'ACCOUNT_SUSPENDED' | 'SSO_REQUIRED'; retryAfterMs: number | undefined };

  /**
   * The password (and second-factor) step shared by Login and VerifyPassword: throttle, verify,
   * TOTP replay guard, audit. `quietSuccess` leaves successes out of the audit log (VerifyPassword
   * answers every MQTT connect that presents a password; its failures and lockouts are still recorded).
   */
  async function passwordStep(input: LoginInput, options: { quietSuccess: boolean; channel: PasswordChannel }): Promise<PasswordStep> {
    if (!input.username) throw invalidArgument('username', 'is required');
    if (input.username.length > 128) throw invalidArgument('username', 'must be at most 128 characters');
    if (input.password.length > 1024) throw invalidArgument('password', 'must be at most 1024 characters');
    const keys = throttleKeys(options.channel, input.username, input.peerIp);
    const userKey = keys.user;
    return userLocks.run(userKey, async () => {
      const user = await deps.store.findUserByUsername(input.username);
      const membership = user ? (input.accountId ? user.memberships.find((m) => m.accountId === input.accountId) : user.memberships[0]) : undefined;
      const accountId = membership?.accountId ?? null;
      const path = accountId ? await deps.store.accountPath(accountId) : [];
      const ipKey = keys.ip;
      const totp = user ? await deps.totp.get(user.id) : undefined;
      const nowMs = deps.clock.nowMs();
      const outcome = await decidePasswordLogin(
        {
          password: input.password,
          secondFactor: input.totpCode,
          ip: input.peerIp,
          accountId,
          // A user without a membership in the asked account is an unknown user for this login.
          user: user && membership ? { id: user.id, passwordPhc: user.passwordHash, totp } : undefined,
          throttle: { pair: await deps.throttle.get(keys.pair), username: await deps.throttle.get(userKey), ip: ipKey ? await deps.throttle.get(ipKey) : undefined },
          otherAddresses: await deps.throttle.countLive(keys.pairPrefix, keys.pair, nowMs - policy.failureWindowMs, nowMs),
          twoFactorPath: path.map((a) => ({ accountId: a.id, requireTwoFactor: a.requireTotp })),
        },
        { hasher: deps.hasher, twoFactor: deps.twoFactor, clock: deps.clock, policies },
      );
      let events = outcome.audit.filter((e) => !(e.kind === 'lockout' && e.reason === 'IP_FAILURES') && !(options.quietSuccess && e.kind === 'login_ok'));
      if ('pair' in outcome.throttle) await deps.throttle.put(keys.pair, outcome.throttle.pair);
      if ('username' in outcome.throttle) await deps.throttle.put(userKey, outcome.throttle.username);
      if (ipKey && outcome.throttle.ip !== undefined && (await ipFailure(ipKey))) {
        events.push({ kind: 'lockout', outcome: 'success', reason: 'IP_FAILURES', actorUserId: user && membership ? user.id : null, accountId, ip: input.peerIp });
      }
      if (options.channel === 'check') {
        // A client retrying against a running lockout is not news: its start was recorded (a
        // `lockout` event) and the broker edge throttles such clients before they get here.
        events = events.filter((e) => !(e.kind === 'login_failed' && e.outcome === 'denied')).map((e) => ({ ...e, details: { ...e.details, channel: 'credential_check' } }));
      }
      if (outcome.ok && isSsoRequired(path)) {
        // The right password, but the account signs its members in through its IdP only. Refused
        // after the check (a wrong password answers as usual), before a TOTP code is spent.
        await audit(events.map((e) => (e.kind === 'login_ok' ? { ...e, kind: 'login_failed' as const, outcome: 'denied' as const, reason: 'SSO_REQUIRED' } : e)));
        return { ok: false, reason: 'SSO_REQUIRED', retryAfterMs: undefined };
      }
      if (outcome.ok && outcome.totp && totp && !(await deps.totp.advance(outcome.userId, totp, outcome.totp))) {
        // Another login spent this code (or recovery code) between our read and now: a replay.
        await audit([{ kind: 'login_failed', outcome: 'failure', reason: 'TWO_FACTOR_INVALID', actorUserId: outcome.userId, accountId, ip: input.peerIp, details: { detail: 'REPLAYED' } }]);
        return { ok: false, reason: 'TWO_FACTOR_INVALID', retryAfterMs: undefined };
      }
      await audit(events);
      if (!outcome.ok) return { ok: false, reason: outcome.reason, retryAfterMs: outcome.retryAfterMs };
      if (outcome.rehashedPhc) await deps.store.setPasswordHash(outcome.userId, outcome.rehashedPhc);
      if (path.some((a) => a.state === 'suspended')) return { ok: false, reason: 'ACCOUNT_SUSPENDED', retryAfterMs: undefined };
      return { ok: true, userId: outcome.userId, accountId: accountId!, role: membership!.role };
    });
  }

  async function login(input: LoginInput): Promise<LoginResult> {
    const step = await passwordStep(input, { quietSuccess: false, channel: 'login' });
    if (!step.ok) return { allowed: false, reason: step.reason, retryAfterMs: step.retryAfterMs };
    const refresh = await deps.refresh.startFamily(step.userId, step.accountId);
    return { allowed: true, session: await issue(step.userId, step.accountId, refresh) };
  }

  /**
   * A password check without a session (authz, for username + password credentials an MQTT client
   * or broker adapter presented): the same rules as Login, on counters of its own (`check` channel).
   */
  async function verifyPassword(input: Omit<LoginInput, 'totpCode'>): Promise<PasswordStep> {
    return passwordStep(input, { quietSuccess: true, channel: 'check' });
  }

  /**
   * Lifts lockouts of `username`: from `address` only (both channels' (username, address)
   * counters), or everywhere (every address, account-wide, both channels). An address's own
   * spraying counter is not touched: it is about every user, not this one. Answers how many
   * running lockouts were lifted; audited either way.
   */
  async function unlock(input: { username: string; address: string | null; actor: Pick<AuditEventInput, 'actorUserId' | 'actorKind' | 'actorSubject'> & { details: Record<string, string> }; accountId: string | null; subject: string | null }): Promise<number> {
    const nowMs = deps.clock.nowMs();
    const channels: PasswordChannel[] = ['login', 'check'];
    const lifted = await userLocks.run(usernameThrottleKey(input.username), () =>
      input.address
        ? deps.throttle.clear(channels.map((c) => throttleKeys(c, input.username, input.address).pair), [], nowMs)
        : deps.throttle.clear(channels.map((c) => throttleKeys(c, input.username, null).user), channels.map((c) => throttleKeys(c, input.username, null).pairPrefix), nowMs),
    );
    await audit([
      {
        kind: 'lockout_lifted',
        outcome: 'success',
        actorUserId: input.actor.actorUserId,
        actorKind: input.actor.actorKind,
        actorSubject: input.actor.actorSubject,
        accountId: input.accountId,
        subject: input.subject,
        ip: input.address,
        reason: input.address ? 'USERNAME_ADDRESS' : 'ALL_ADDRESSES',
        details: { ...input.actor.details, lifted: String(lifted.length) },
      },
    ]);
    return lifted.length;
  }

  /** The family behind a refresh token, without spending it. */
  async function familyOf(token: string) {
    const record = await deps.refreshStore.findToken(deps.digest.sha256Hex(token));
    return record ? deps.refreshStore.getFamily(record.familyId) : undefined;
  }

  async function refresh(token: string, switchToAccountId?: string): Promise<RefreshResult> {
    if (!token || token.length > 256) throw invalidArgument('refresh_token', 'is required (at most 256 characters)');
    const rotated = await deps.refresh.rotate(token, switchToAccountId ? { switchToAccountId } : {});
    if (!rotated.ok) {
      if (rotated.reason === 'REUSE_DETECTED') {
        const family = await deps.refreshStore.getFamily(rotated.familyId);
        await audit([{ kind: 'token_family_revoked', outcome: 'success', actorUserId: rotated.userId, accountId: family?.accountId ?? null, subject: rotated.userId, reason: 'REUSE_DETECTED' }]);
      }
      return { allowed: false, reason: rotated.reason };
    }
    const { issued } = rotated;
    const [user, path] = await Promise.all([deps.store.getUser(issued.userId), deps.store.accountPath(issued.accountId)]);
    if (rolesForToken(user?.memberships ?? [], path.map((a) => a.id)).length === 0) {
      // Removed from the account since: the session ends here.
      await deps.refresh.revokeFamilyOf(issued.token, 'admin');
      await audit([{ kind: 'token_family_revoked', outcome: 'success', actorUserId: issued.userId, accountId: issued.accountId, subject: issued.userId, reason: 'NOT_A_MEMBER' }]);
      return { allowed: false, reason: 'NOT_A_MEMBER' };
    }
    if (path.some((a) => a.state === 'suspended')) return { allowed: false, reason: 'ACCOUNT_SUSPENDED' };
    return { allowed: true, session: await issue(issued.userId, issued.accountId, issued) };
  }

  async function logout(token: string): Promise<void> {
    const family = await familyOf(token);
    const revoked = await deps.refresh.revokeFamilyOf(token, 'logout');
    if (revoked?.revoked) await audit([{ kind: 'logout', outcome: 'success', actorUserId: family?.userId ?? null, accountId: family?.accountId ?? null, subject: family?.userId ?? null, reason: 'LOGOUT' }]);
  }

  /** Re-targets a session at another account the user belongs to. */
  async function switchAccount(token: string, accountId: string): Promise<RefreshResult> {
    const family = await familyOf(token);
    const user = family ? await deps.store.getUser(family.userId) : undefined;
    if (!user) return { allowed: false, reason: 'UNKNOWN_TOKEN' };
    if (!user.memberships.some((m) => m.accountId === accountId)) return { allowed: false, reason: 'NOT_A_MEMBER' };
    return refresh(token, accountId);
  }

  /**
   * The caller's session (checked by the handler) plus the current password and, when the user has
   * TOTP enrolled, a code: a stolen password alone — or a borrowed unlocked session alone — is not
   * enough. Guessing counts against the same (username, address) and account-wide throttle as
   * logins (else ChangePassword would be an unthrottled password oracle). A changed password ends
   * every session of the user.
   */
  async function changePassword(input: { userId: string; currentPassword: string; newPassword: string; totpCode?: string | undefined; peerIp: string | null }): Promise<void> {
    if (input.currentPassword.length > 1024) throw invalidArgument('current_password', 'must be at most 1024 characters');
    if (input.newPassword.length > 1024) throw invalidArgument('new_password', 'must be at most 1024 characters');
    const user = await deps.store.getUser(input.userId);
    const wrong = () => permissionDenied('current_password: does not match', 'INVALID_CREDENTIALS');
    if (!user) {
      await deps.hasher.verifyDummy(input.currentPassword);
      throw wrong();
    }
    assertPasswordPolicy(input.newPassword, { field: 'new_password', username: user.username });
    const keys = throttleKeys('login', user.username, input.peerIp);
    const base = { actorUserId: user.id, subject: user.id, accountId: user.memberships[0]?.accountId ?? null, ip: input.peerIp };
    await userLocks.run(keys.user, async () => {
      const nowMs = deps.clock.nowMs();
      const pairState = await deps.throttle.get(keys.pair);
      const userState = await deps.throttle.get(keys.user);
      const gate = checkLogin({ pair: pairState, username: userState }, nowMs, { pair: policy, username: { ...policy, backoffBaseMs: 0 } });
      if (!gate.allowed) {
        await audit([{ ...base, kind: 'password_changed', outcome: 'denied', reason: gate.reason }]);
        throw new AppError('RESOURCE_EXHAUSTED', `${gate.reason === 'LOCKED_OUT' ? 'locked out after too many failed attempts' : 'too soon after a failed attempt'}; retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`, { reason: 'LOCKED_OUT', details: { retry_after_ms: String(gate.retryAfterMs) } });
      }
      const fail = async (reason: 'INVALID_CREDENTIALS' | 'TWO_FACTOR_INVALID') => {
        const next = recordFailure(pairState, nowMs, policy);
        await deps.throttle.put(keys.pair, next.state);
        await audit([
          { ...base, kind: 'password_changed', outcome: 'failure', reason },
          ...(next.lockedOut ? [{ ...base, kind: 'lockout' as const, outcome: 'success' as const, reason: 'USERNAME_ADDRESS_FAILURES' }] : []),
        ]);
      };
      if (!(await deps.hasher.verify(user.passwordHash, input.currentPassword))) {
        await fail('INVALID_CREDENTIALS');
        throw wrong();
      }
      const totp = await deps.totp.get(user.id);
      if (totp?.status === 'active') {
        const code = input.totpCode?.trim();
        if (!code) throw invalidArgument('totp_code', 'is required: this user has two-factor authentication enrolled');
        const isRecovery = /[a-z-]/i.test(code);
        const checked = isRecovery ? deps.twoFactor.useRecoveryCode(totp, code) : deps.twoFactor.verify(totp, code);
        if (!checked.ok || !(await deps.totp.advance(user.id, totp, checked.enrollment))) {
          await fail('TWO_FACTOR_INVALID');
          throw permissionDenied('totp_code: does not match', 'TWO_FACTOR_INVALID');
        }
      }
      await deps.throttle.put(keys.pair, undefined);
      await deps.store.setPasswordHash(user.id, await deps.hasher.hash(input.newPassword));
    });
    await passwordChanged(user.id, base.accountId, input.peerIp);
  }

  async function passwordChanged(userId: string, accountId: string | null, ip: string | null): Promise<void> {
    const families = await deps.refresh.revokeAllOfUser(userId, 'password_changed');
    await deps.endOtherSessions?.(userId);
    await audit([{ kind: 'password_changed', outcome: 'success', actorUserId: userId, subject: userId, accountId, ip, details: { sessions_ended: String(families.length) } }]);
  }

  /** The password (and TOTP) step of a login without a Tollgate session: the OAuth provider's sign-in page. */
  async function signIn(input: LoginInput): Promise<PasswordStep> {
    return passwordStep(input, { quietSuccess: false, channel: 'login' });
  }

  /** Whether Tollgate's TOTP step follows an upstream sign-in (see domain/sso-policy.ts). */
  async function secondFactorAfterUpstream(input: { userId: string; accountId: string; upstreamMfa: boolean }) {
    const [totp, path] = await Promise.all([deps.totp.get(input.userId), deps.store.accountPath(input.accountId)]);
    return secondFactorAfterSso({ upstreamMfa: input.upstreamMfa, totpEnrolled: totp?.status === 'active', totpRequired: path.some((a) => a.requireTotp) });
  }

  /**
   * The TOTP (or recovery code) step after an upstream sign-in: the same (username, address)
   * throttle, replay guard and audit as the password login's second factor.
   */
  async function verifySecondFactor(input: { userId: string; accountId: string; code: string; peerIp: string | null; connectionId: string }): Promise<{ ok: true } | { ok: false; reason: 'TWO_FACTOR_INVALID' | 'LOCKED_OUT'; retryAfterMs: number | undefined }> {
    const user = await deps.store.getUser(input.userId);
    if (!user) return { ok: false, reason: 'TWO_FACTOR_INVALID', retryAfterMs: undefined };
    const keys = throttleKeys('login', user.username, input.peerIp);
    const base = { actorUserId: user.id, subject: user.id, accountId: input.accountId, ip: input.peerIp, details: { method: 'sso', connection: input.connectionId } };
    return userLocks.run(keys.user, async () => {
      const nowMs = deps.clock.nowMs();
      const pairState = await deps.throttle.get(keys.pair);
      const gate = checkLogin({ pair: pairState, username: await deps.throttle.get(keys.user) }, nowMs, { pair: policy, username: { ...policy, backoffBaseMs: 0 } });
      if (!gate.allowed) {
        await audit([{ ...base, kind: 'login_failed', outcome: 'denied', reason: gate.reason }]);
        return { ok: false, reason: 'LOCKED_OUT', retryAfterMs: gate.retryAfterMs };
      }
      const totp = await deps.totp.get(user.id);
      const code = input.code.trim();
      const isRecovery = /[a-z-]/i.test(code);
      const checked = isRecovery ? deps.twoFactor.useRecoveryCode(totp, code) : deps.twoFactor.verify(totp, code);
      if (!checked.ok || !totp || !(await deps.totp.advance(user.id, totp, checked.enrollment))) {
        const next = recordFailure(pairState, nowMs, policy);
        await deps.throttle.put(keys.pair, next.state);
        await audit([
          { ...base, kind: 'login_failed', outcome: 'failure', reason: 'TWO_FACTOR_INVALID' },
          ...(next.lockedOut ? [{ ...base, kind: 'lockout' as const, outcome: 'success' as const, reason: 'USERNAME_ADDRESS_FAILURES' }] : []),
        ]);
        return { ok: false, reason: 'TWO_FACTOR_INVALID', retryAfterMs: undefined };
      }
      await deps.throttle.put(keys.pair, undefined);
      if (isRecovery) await audit([{ ...base, kind: 'recovery_code_used', outcome: 'success', details: { ...base.details, remaining: String(checked.enrollment.recoveryCodeHashes.length) } }]);
      return { ok: true };
    });
  }

  return { login, verifyPassword, signIn, secondFactorAfterUpstream, verifySecondFactor, unlock, refresh, logout, audit, switchAccount, changePassword };
}

export type Sessions = ReturnType<typeof createSessions>;
