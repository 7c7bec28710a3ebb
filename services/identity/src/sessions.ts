import { randomUUID } from 'node:crypto';
import { AppError, invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import { createAuditEvent, type AuditEventInput } from './domain/audit-event.ts';
import { checkAttempt, defaultThrottlePolicy, ipThrottleKey, recordFailure, usernameThrottleKey, type ThrottlePolicy } from './domain/login-throttle.ts';
import { decidePasswordLogin, type LoginRefusal } from './domain/password-login.ts';
import { assertPasswordPolicy } from './domain/password-policy.ts';
import type { Clock, PasswordHasher, SecretDigest } from './domain/ports.ts';
import type { RefreshTokenService, RefreshTokenStore } from './domain/refresh-tokens.ts';
import { rolesForToken, type Role } from './domain/roles.ts';
import type { TwoFactor } from './domain/two-factor.ts';
import type { SigningKeyRing } from './crypto/signing-key-ring.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import type { PostgresIdentityStore } from './store/postgres-identity-store.ts';
import type { PostgresAuditStore, PostgresThrottleStore } from './store/postgres-session-store.ts';
import type { PostgresTotpStore } from './store/postgres-extras-store.ts';

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
  | { allowed: false; reason: LoginRefusal | 'ACCOUNT_SUSPENDED'; retryAfterMs: number | undefined };

export interface LoginInput {
  username: string;
  password: string;
  totpCode?: string | undefined;
  accountId?: string | undefined;
  /** The client's address for the per-IP throttle; null when unknown. */
  peerIp: string | null;
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
  store: PostgresIdentityStore;
  hasher: PasswordHasher;
  totp: PostgresTotpStore;
  ring: SigningKeyRing;
  refresh: RefreshTokenService;
  /** Families and tokens as stored (who a refresh token belongs to, without spending it). */
  refreshStore: Pick<RefreshTokenStore, 'findToken' | 'getFamily'>;
  digest: SecretDigest;
  throttle: PostgresThrottleStore;
  audit: PostgresAuditStore;
  twoFactor: TwoFactor;
  clock: Clock;
  accessTokenTtlMs: number;
  throttlePolicy?: ThrottlePolicy | undefined;
  /** Ends the user's sessions elsewhere too (the OAuth provider's sign-in sessions, grants and tokens). */
  endOtherSessions?: ((userId: string) => Promise<void>) | undefined;
}) {
  const policy = deps.throttlePolicy ?? defaultThrottlePolicy;
  const userLocks = new KeyedMutex();
  const ipLocks = new KeyedMutex();
  const audit = (inputs: readonly AuditEventInput[]) =>
    deps.audit.append(inputs.map((input) => createAuditEvent(input, { clock: deps.clock, newId: () => `evt_${randomUUID().replaceAll('-', '')}` })));

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
      const next = recordFailure(await deps.throttle.get(ipKey), deps.clock.nowMs(), policy);
      await deps.throttle.put(ipKey, next.state);
      return next.lockedOut;
    });
  }

  type PasswordStep =
    | { ok: true; userId: string; accountId: string; role: Role }
    | { ok: false; reason: LoginRefusal | 'ACCOUNT_SUSPENDED'; retryAfterMs: number | undefined };

  /**
   * The password (and second-factor) step shared by Login and VerifyPassword: throttle, verify,
   * TOTP replay guard, audit. `quietSuccess` leaves successes out of the audit log (VerifyPassword
   * answers every MQTT connect that presents a password; its failures and lockouts are still recorded).
   */
  async function passwordStep(input: LoginInput, options: { quietSuccess: boolean }): Promise<PasswordStep> {
    if (!input.username) throw invalidArgument('username', 'is required');
    if (input.username.length > 128) throw invalidArgument('username', 'must be at most 128 characters');
    if (input.password.length > 1024) throw invalidArgument('password', 'must be at most 1024 characters');
    const userKey = usernameThrottleKey(input.username);
    return userLocks.run(userKey, async () => {
      const user = await deps.store.findUserByUsername(input.username);
      const membership = user ? (input.accountId ? user.memberships.find((m) => m.accountId === input.accountId) : user.memberships[0]) : undefined;
      const accountId = membership?.accountId ?? null;
      const path = accountId ? await deps.store.accountPath(accountId) : [];
      const ipKey = input.peerIp ? ipThrottleKey(input.peerIp) : undefined;
      const totp = user ? await deps.totp.get(user.id) : undefined;
      const outcome = await decidePasswordLogin(
        {
          password: input.password,
          secondFactor: input.totpCode,
          ip: input.peerIp,
          accountId,
          // A user without a membership in the asked account is an unknown user for this login.
          user: user && membership ? { id: user.id, passwordPhc: user.passwordHash, totp } : undefined,
          throttle: { username: await deps.throttle.get(userKey), ip: ipKey ? await deps.throttle.get(ipKey) : undefined },
          twoFactorPath: path.map((a) => ({ accountId: a.id, requireTwoFactor: a.requireTotp })),
        },
        { hasher: deps.hasher, twoFactor: deps.twoFactor, clock: deps.clock, policies: { username: policy, ip: policy } },
      );
      const events = outcome.audit.filter((e) => !(e.kind === 'lockout' && e.reason === 'IP_FAILURES') && !(options.quietSuccess && e.kind === 'login_ok'));
      if ('username' in outcome.throttle) await deps.throttle.put(userKey, outcome.throttle.username);
      if (ipKey && outcome.throttle.ip !== undefined && (await ipFailure(ipKey))) {
        events.push({ kind: 'lockout', outcome: 'success', reason: 'IP_FAILURES', actorUserId: user && membership ? user.id : null, accountId, ip: input.peerIp });
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
    const step = await passwordStep(input, { quietSuccess: false });
    if (!step.ok) return { allowed: false, reason: step.reason, retryAfterMs: step.retryAfterMs };
    const refresh = await deps.refresh.startFamily(step.userId, step.accountId);
    return { allowed: true, session: await issue(step.userId, step.accountId, refresh) };
  }

  /** A password check without a session (authz, for username + password credentials): same throttle and 2FA rules. */
  async function verifyPassword(input: Omit<LoginInput, 'totpCode'>): Promise<PasswordStep> {
    return passwordStep(input, { quietSuccess: true });
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
   * The current password is the proof, so guessing it here counts against the same per-username
   * throttle as logins (else ChangePassword would be an unthrottled password oracle). A changed
   * password ends every session of the user.
   */
  async function changePassword(input: { userId: string; currentPassword: string; newPassword: string; peerIp: string | null }): Promise<void> {
    if (input.currentPassword.length > 1024) throw invalidArgument('current_password', 'must be at most 1024 characters');
    if (input.newPassword.length > 1024) throw invalidArgument('new_password', 'must be at most 1024 characters');
    const user = await deps.store.getUser(input.userId);
    const wrong = () => permissionDenied('current_password: does not match', 'INVALID_CREDENTIALS');
    if (!user) {
      await deps.hasher.verifyDummy(input.currentPassword);
      throw wrong();
    }
    assertPasswordPolicy(input.newPassword, { field: 'new_password', username: user.username });
    const key = usernameThrottleKey(user.username);
    const base = { actorUserId: user.id, subject: user.id, accountId: user.memberships[0]?.accountId ?? null, ip: input.peerIp };
    await userLocks.run(key, async () => {
      const state = await deps.throttle.get(key);
      const gate = checkAttempt(state, deps.clock.nowMs(), policy);
      if (!gate.allowed) {
        await audit([{ ...base, kind: 'password_changed', outcome: 'denied', reason: gate.reason }]);
        throw new AppError('RESOURCE_EXHAUSTED', `${gate.reason === 'LOCKED_OUT' ? 'locked out after too many failed attempts' : 'too soon after a failed attempt'}; retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`, { reason: 'LOCKED_OUT', details: { retry_after_ms: String(gate.retryAfterMs) } });
      }
      if (!(await deps.hasher.verify(user.passwordHash, input.currentPassword))) {
        const next = recordFailure(state, deps.clock.nowMs(), policy);
        await deps.throttle.put(key, next.state);
        await audit([
          { ...base, kind: 'password_changed', outcome: 'failure', reason: 'INVALID_CREDENTIALS' },
          ...(next.lockedOut ? [{ ...base, kind: 'lockout' as const, outcome: 'success' as const, reason: 'USERNAME_FAILURES' }] : []),
        ]);
        throw wrong();
      }
      await deps.throttle.put(key, undefined);
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
    return passwordStep(input, { quietSuccess: false });
  }

  return { login, verifyPassword, signIn, refresh, logout, audit, switchAccount, changePassword };
}

export type Sessions = ReturnType<typeof createSessions>;
