import { invalidArgument, notFound, permissionDenied, failedPrecondition } from '#libs/errors/index.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { Permission as ProtoPermission, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { assertPasswordPolicy } from '../domain/password-policy.ts';
import { checkResourceAccess, type Permission } from '../domain/resource-access.ts';
import type { TwoFactor } from '../domain/two-factor.ts';
import type { PasswordHasher } from '../domain/ports.ts';
import type { PostgresIdentityStore } from '../store/postgres-identity-store.ts';
import type { PostgresGrantStore, PostgresTotpStore } from '../store/postgres-extras-store.ts';
import type { Sessions } from '../sessions.ts';

const permissionOf: Record<number, Permission> = { [ProtoPermission.READ]: 'read', [ProtoPermission.WRITE]: 'write', [ProtoPermission.ADMIN]: 'admin' };
const toProto: Record<Permission, ProtoPermission> = { read: ProtoPermission.READ, write: ProtoPermission.WRITE, admin: ProtoPermission.ADMIN };
const required = (v: string, field: string) => {
  if (!v) throw invalidArgument(field, 'is required');
  if (v.length > 128) throw invalidArgument(field, 'must be at most 128 characters');
  return v;
};
const permission = (p: ProtoPermission, field = 'permission'): Permission => {
  const found = permissionOf[p];
  if (!found) throw invalidArgument(field, 'must be PERMISSION_READ, PERMISSION_WRITE or PERMISSION_ADMIN');
  return found;
};

/** TOTP, account policy, password change, memberships, account switching and dataset grants. */
export function extrasHandlers(deps: {
  store: PostgresIdentityStore;
  hasher: PasswordHasher;
  totp: PostgresTotpStore;
  grants: PostgresGrantStore;
  twoFactor: TwoFactor;
  requireAdmin: RequireAdmin;
  sessions: () => Sessions;
}): Partial<ServiceImpl<typeof IdentityService>> {
  const { store, requireAdmin } = deps;

  /** The user themself (their access token), or an admin of one of their accounts. */
  async function requireSelfOrAdmin(ctx: CallContext, userId: string) {
    const user = await store.getUser(required(userId, 'user_id'));
    if (!user) throw notFound('user_id', 'user');
    let lastError: unknown;
    for (const m of user.memberships) {
      try {
        const p = await requireAdmin(ctx, m.accountId, 'read');
        if (p.kind === 'user' && p.subject !== user.id && p.role !== 'owner' && p.role !== 'admin') throw permissionDenied('only the user or an admin of their account', 'NOT_SELF');
        return user;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? permissionDenied('only the user or an admin of their account', 'NOT_SELF');
  }

  return {
    async setAccountPolicy(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_accounts');
      await store.setRequireTotp(req.accountId, req.requireTotp);
      const account = (await store.getAccount(req.accountId))!;
      return { account: { id: account.id, name: account.name, parentId: account.parentId ?? '', depth: account.depth, requireTotp: account.requireTotp } };
    },
    async changePassword(req) {
      // The current password is the proof; the new one must pass the policy.
      const user = await store.getUser(required(req.userId, 'user_id'));
      if (!user || !(await deps.hasher.verify(user.passwordHash, req.currentPassword))) throw permissionDenied('current_password: does not match', 'INVALID_CREDENTIALS');
      assertPasswordPolicy(req.newPassword, { field: 'new_password', username: user.username });
      await store.setPasswordHash(user.id, await deps.hasher.hash(req.newPassword));
      await deps.sessions().passwordChanged(user.id);
      return {};
    },
    async removeMembership(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      const user = await store.getUser(required(req.userId, 'user_id'));
      const membership = user?.memberships.find((m) => m.accountId === req.accountId);
      if (!user || !membership) throw notFound('user_id', 'membership');
      if (membership.role === 'owner' && (await store.countOwners(req.accountId)) <= 1) throw failedPrecondition('user_id: the last owner of an account cannot be removed');
      await store.removeMembership(user.id, req.accountId);
      return { user: { id: user.id, username: user.username } };
    },
    async switchAccount(req) {
      const result = await deps.sessions().switchAccount(required(req.refreshToken, 'refresh_token'), required(req.accountId, 'account_id'));
      return result.allowed
        ? { allowed: true, reason: 'OK', session: { accessToken: result.session.accessToken, refreshToken: result.session.refreshToken, accountId: result.session.accountId, userId: result.session.userId } }
        : { allowed: false, reason: result.reason };
    },
    async enrollTotp(req, ctx) {
      const user = await requireSelfOrAdmin(ctx, req.userId);
      const existing = await deps.totp.get(user.id);
      if (existing?.status === 'active') throw failedPrecondition('user_id: 2FA is already enrolled; disable it first');
      const { enrollment, secret, uri } = deps.twoFactor.enroll(user.username);
      await deps.totp.put(user.id, enrollment);
      return { otpauthUri: uri, secret };
    },
    async confirmTotp(req, ctx) {
      const user = await requireSelfOrAdmin(ctx, req.userId);
      const pending = await deps.totp.get(user.id);
      if (!pending || pending.status !== 'pending') throw failedPrecondition('user_id: no pending 2FA enrollment');
      const confirmed = deps.twoFactor.confirm(pending, req.code);
      if (!confirmed.ok) throw invalidArgument('code', 'is not the current code of the enrolled secret');
      await deps.totp.put(user.id, confirmed.enrollment);
      await deps.sessions().audit([{ kind: 'totp_enrolled', outcome: 'success', actorUserId: user.id, subject: user.id }]);
      return { recoveryCodes: confirmed.recoveryCodes };
    },
    async disableTotp(req, ctx) {
      const user = await requireSelfOrAdmin(ctx, req.userId);
      const enrollment = await deps.totp.get(user.id);
      const checked = deps.twoFactor.verify(enrollment, req.code);
      if (!checked.ok) throw invalidArgument('code', 'a current code is needed to disable 2FA');
      await deps.totp.delete(user.id);
      await deps.sessions().audit([{ kind: 'totp_disabled', outcome: 'success', actorUserId: user.id, subject: user.id }]);
      return {};
    },
    async setResourceRestricted(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      await deps.grants.setRestricted(req.accountId, required(req.resourceId, 'resource_id'), req.restricted);
      return {};
    },
    async grantResourceAccess(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      const p = permission(req.permission);
      if (!(await store.getUser(required(req.userId, 'user_id')))) throw notFound('user_id', 'user');
      await deps.grants.grant(req.accountId, required(req.resourceId, 'resource_id'), req.userId, p);
      return { grant: { resourceId: req.resourceId, userId: req.userId, permission: req.permission } };
    },
    async revokeResourceAccess(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      await deps.grants.revoke(req.accountId, required(req.resourceId, 'resource_id'), required(req.userId, 'user_id'));
      return {};
    },
    async listResourceGrants(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const rows = await deps.grants.list(req.accountId, required(req.resourceId, 'resource_id'));
      return { grants: rows.map((g) => ({ resourceId: req.resourceId, userId: g.userId, permission: toProto[g.permission] })), restricted: await deps.grants.restricted(req.accountId, req.resourceId) };
    },
    async checkResourceAccess(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const user = await store.getUser(required(req.userId, 'user_id'));
      if (!user) return { allowed: false, reason: 'NO_ACCESS' };
      const path = await store.accountPath(req.accountId);
      if (path.length === 0) throw notFound('account_id', 'account');
      const resourceId = required(req.resourceId, 'resource_id');
      const grants = (await deps.grants.list(req.accountId, resourceId)).filter((g) => g.userId === user.id).map((g) => ({ resourceId, userId: user.id, permission: g.permission }));
      const decision = checkResourceAccess(
        { id: user.id, memberships: user.memberships, grants },
        { id: resourceId, accountPath: path.map((a) => a.id), restricted: await deps.grants.restricted(req.accountId, resourceId), accountSuspended: path.some((a) => a.state === 'suspended') },
        permission(req.permission),
      );
      return decision.allowed ? { allowed: true, reason: `ALLOWED_BY_${decision.via.toUpperCase()}` } : { allowed: false, reason: decision.reason };
    },
  };
}
