import { randomUUID } from 'node:crypto';
import { invalidArgument } from '#libs/errors/index.ts';
import { createAuditEvent, type AuditEventInput } from './domain/audit-event.ts';
import { ipThrottleKey, usernameThrottleKey, type ThrottlePolicy } from './domain/login-throttle.ts';
import { decidePasswordLogin, type LoginRefusal } from './domain/password-login.ts';
import type { Clock, PasswordHasher } from './domain/ports.ts';
import type { RefreshTokenService } from './domain/refresh-tokens.ts';
import { rolesForToken } from './domain/roles.ts';
import type { TwoFactor } from './domain/two-factor.ts';
import type { SigningKeyRing } from './crypto/signing-key-ring.ts';
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

export type RefreshResult = { allowed: true; session: Session } | { allowed: false; reason: string };

/**
 * Password login, access tokens (EdDSA JWT, `kid`, claims sub/acc/roles) and rotating refresh
 * tokens with reuse detection; every security event goes to the audit log. 2FA enrollment state is
 * not persisted yet, so accounts that require 2FA refuse password logins (TWO_FACTOR_ENROLLMENT_REQUIRED).
 */
export function createSessions(deps: {
  store: PostgresIdentityStore;
  hasher: PasswordHasher;
  totp: PostgresTotpStore;
  /** The user a refresh token belongs to, without spending it. */
  refreshOwner: (token: string) => Promise<string | undefined>;
  ring: SigningKeyRing;
  refresh: RefreshTokenService;
  throttle: PostgresThrottleStore;
  audit: PostgresAuditStore;
  twoFactor: TwoFactor;
  clock: Clock;
  accessTokenTtlMs: number;
  throttlePolicy?: ThrottlePolicy | undefined;
}) {
  const audit = (inputs: readonly AuditEventInput[]) =>
    deps.audit.append(inputs.map((input) => createAuditEvent(input, { clock: deps.clock, newId: () => `evt_${randomUUID().replaceAll('-', '')}` })));

  async function issue(userId: string, accountId: string, refresh: { token: string; expiresAtMs: number }): Promise<Session> {
    const user = await deps.store.getUser(userId);
    const path = (await deps.store.accountPath(accountId)).map((a) => a.id);
    const roles = rolesForToken(user?.memberships ?? [], path);
    const access = await deps.ring.issueAccessToken({ sub: userId, acc: accountId, roles }, deps.accessTokenTtlMs);
    return { accessToken: access.token, accessExpiresAtMs: access.expiresAtMs, refreshToken: refresh.token, refreshExpiresAtMs: refresh.expiresAtMs, userId, accountId };
  }

  async function login(input: { username: string; password: string; totpCode?: string | undefined; accountId?: string | undefined; peerIp: string | null }): Promise<LoginResult> {
    if (!input.username) throw invalidArgument('username', 'is required');
    if (input.password.length > 1024) throw invalidArgument('password', 'must be at most 1024 characters');
    const user = await deps.store.findUserByUsername(input.username);
    const membership = user ? (input.accountId ? user.memberships.find((m) => m.accountId === input.accountId) : user.memberships[0]) : undefined;
    const accountId = membership?.accountId ?? null;
    const path = accountId ? await deps.store.accountPath(accountId) : [];
    const userKey = usernameThrottleKey(input.username);
    const ipKey = input.peerIp ? ipThrottleKey(input.peerIp) : undefined;
    const outcome = await decidePasswordLogin(
      {
        password: input.password,
        secondFactor: input.totpCode,
        ip: input.peerIp,
        accountId,
        // A user without a membership in the asked account is an unknown user for this login.
        user: user && membership ? { id: user.id, passwordPhc: user.passwordHash, totp: await deps.totp.get(user.id) } : undefined,
        throttle: { username: await deps.throttle.get(userKey), ip: ipKey ? await deps.throttle.get(ipKey) : undefined },
        twoFactorPath: path.map((a) => ({ accountId: a.id, requireTwoFactor: a.requireTotp })),
      },
      { hasher: deps.hasher, twoFactor: deps.twoFactor, clock: deps.clock, ...(deps.throttlePolicy ? { policies: { username: deps.throttlePolicy, ip: deps.throttlePolicy } } : {}) },
    );
    if ('username' in outcome.throttle) await deps.throttle.put(userKey, outcome.throttle.username);
    if (ipKey && 'ip' in outcome.throttle) await deps.throttle.put(ipKey, outcome.throttle.ip);
    await audit(outcome.audit);
    if (!outcome.ok) return { allowed: false, reason: outcome.reason, retryAfterMs: outcome.retryAfterMs };
    if (outcome.totp) await deps.totp.put(outcome.userId, outcome.totp); // the replay guard moved on
    if (outcome.rehashedPhc) await deps.store.setPasswordHash(outcome.userId, outcome.rehashedPhc);
    if (path.some((a) => a.state === 'suspended')) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', retryAfterMs: undefined };
    const refresh = await deps.refresh.startFamily(outcome.userId, accountId!);
    return { allowed: true, session: await issue(outcome.userId, accountId!, refresh) };
  }

  async function refresh(token: string, switchToAccountId?: string): Promise<RefreshResult> {
    if (!token || token.length > 256) throw invalidArgument('refresh_token', 'is required (at most 256 characters)');
    const rotated = await deps.refresh.rotate(token, switchToAccountId ? { switchToAccountId } : {});
    if (!rotated.ok) {
      if (rotated.reason === 'REUSE_DETECTED') {
        await audit([{ kind: 'token_family_revoked', outcome: 'success', actorUserId: rotated.userId, subject: rotated.userId, reason: 'REUSE_DETECTED' }]);
      }
      return { allowed: false, reason: rotated.reason };
    }
    const { issued } = rotated;
    const path = await deps.store.accountPath(issued.accountId);
    if (path.some((a) => a.state === 'suspended')) return { allowed: false, reason: 'ACCOUNT_SUSPENDED' };
    return { allowed: true, session: await issue(issued.userId, issued.accountId, issued) };
  }

  async function logout(token: string): Promise<void> {
    const revoked = await deps.refresh.revokeFamilyOf(token, 'logout');
    if (revoked?.revoked) await audit([{ kind: 'token_family_revoked', outcome: 'success', reason: 'LOGOUT' }]);
  }

  /** Re-targets a session at another account the user belongs to. */
  async function switchAccount(token: string, accountId: string): Promise<RefreshResult> {
    const userId = await deps.refreshOwner(token);
    const user = userId ? await deps.store.getUser(userId) : undefined;
    if (!user) return { allowed: false, reason: 'UNKNOWN_TOKEN' };
    if (!user.memberships.some((m) => m.accountId === accountId)) return { allowed: false, reason: 'NOT_A_MEMBER' };
    return refresh(token, accountId);
  }

  /** A changed password ends every session of the user. */
  async function passwordChanged(userId: string): Promise<void> {
    await deps.refresh.revokeAllOfUser(userId, 'password_changed');
    await audit([{ kind: 'password_changed', outcome: 'success', actorUserId: userId, subject: userId }]);
  }

  return { login, refresh, logout, audit, switchAccount, passwordChanged };
}

export type Sessions = ReturnType<typeof createSessions>;
