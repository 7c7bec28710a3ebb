import { AppError, failedPrecondition, notFound } from '#libs/errors/index.ts';
import { actorOf, type AdminPrincipal, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { actorMay } from '#libs/policy/role-policy.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { Permission as ProtoPermission, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { invalidArgument } from '#libs/errors/index.ts';
import type { AuditEventInput } from '../domain/audit-event.ts';
import { canManageGrants, checkResourceAccess, type Permission, type Resource } from '../domain/resource-access.ts';
import { effectiveRole } from '../domain/roles.ts';
import type { GrantStore, IdentityStore } from '../domain/ports.ts';
import { actorFields, required } from './proto-mapping.ts';

const permissionOf: Record<number, Permission> = { [ProtoPermission.READ]: 'read', [ProtoPermission.WRITE]: 'write', [ProtoPermission.ADMIN]: 'admin' };
const toProto: Record<Permission, ProtoPermission> = { read: ProtoPermission.READ, write: ProtoPermission.WRITE, admin: ProtoPermission.ADMIN };
const permission = (p: ProtoPermission, field = 'permission'): Permission => {
  const found = permissionOf[p];
  if (!found) throw invalidArgument(field, 'must be PERMISSION_READ, PERMISSION_WRITE or PERMISSION_ADMIN');
  return found;
};

/** Dataset-level grants: restricted flags, grants, and the access check (resource-access.ts). */
export function grantHandlers(deps: {
  store: IdentityStore;
  grants: GrantStore;
  requireAdmin: RequireAdmin;
  audit: (events: AuditEventInput[]) => Promise<void>;
}): Partial<ServiceImpl<typeof IdentityService>> {
  const { store, requireAdmin } = deps;

  async function resourceOf(accountId: string, resourceId: string): Promise<Resource> {
    const path = await store.accountPath(accountId);
    if (path.length === 0) throw notFound('account_id', 'account');
    return { id: resourceId, accountPath: path.map((a) => a.id), restricted: await deps.grants.restricted(accountId, resourceId), accountSuspended: path.some((a) => a.state === 'suspended') };
  }

  async function userGrants(accountId: string, resourceId: string, userId: string) {
    return (await deps.grants.list(accountId, resourceId)).filter((g) => g.userId === userId).map((g) => ({ resourceId, userId, permission: g.permission }));
  }

  /**
   * Who may change a resource's grants (rule 4): a user whose role may `manage_users` in its
   * account or who holds `admin` on the resource; a credential whose kind may `manage_users`
   * (role table: master, standard, mesh service).
   */
  async function requireGrantManager(ctx: CallContext, accountId: string, resourceId: string): Promise<{ actor: AdminPrincipal; resource: Resource }> {
    const actor = await requireAdmin(ctx, required(accountId, 'account_id'), 'read');
    const resource = await resourceOf(accountId, required(resourceId, 'resource_id'));
    if (actor.kind === 'user') {
      const user = await store.getUser(actor.subject);
      const allowed = user && canManageGrants({ id: user.id, memberships: user.memberships, grants: await userGrants(accountId, resourceId, user.id) }, resource);
      if (!allowed) throw new AppError('PERMISSION_DENIED', 'managing grants takes an owner/admin of the account or admin on the resource', { reason: 'INSUFFICIENT_PRIVILEGE' });
    } else if (!actorMay(actorOf(actor), 'manage_users')) {
      throw new AppError('PERMISSION_DENIED', `a ${actor.kind} credential may not manage grants`, { reason: 'INSUFFICIENT_PRIVILEGE' });
    }
    return { actor, resource };
  }

  const audited = (actor: AdminPrincipal, accountId: string, resourceId: string, change: Record<string, string>) => {
    const { details, ...who } = actorFields(actor);
    return deps.audit([{ kind: 'grant_changed', outcome: 'success', ...who, accountId, subject: resourceId, details: { ...details, ...change } }]);
  };

  return {
    async setResourceRestricted(req, ctx) {
      const { actor } = await requireGrantManager(ctx, req.accountId, req.resourceId);
      await deps.grants.setRestricted(req.accountId, req.resourceId, req.restricted);
      await audited(actor, req.accountId, req.resourceId, { restricted: String(req.restricted) });
      return {};
    },
    async grantResourceAccess(req, ctx) {
      const { actor, resource } = await requireGrantManager(ctx, req.accountId, req.resourceId);
      const p = permission(req.permission);
      const grantee = await store.getUser(required(req.userId, 'user_id'));
      if (!grantee) throw notFound('user_id', 'user');
      // Grants refine access inside the account tree; they do not bring in outsiders (add a membership first).
      if (!effectiveRole(grantee.memberships, resource.accountPath)) throw failedPrecondition('user_id: not a member of this account or an ancestor');
      await deps.grants.grant(req.accountId, req.resourceId, grantee.id, p);
      await audited(actor, req.accountId, req.resourceId, { grantee: grantee.id, granted: p });
      return { grant: { resourceId: req.resourceId, userId: grantee.id, permission: req.permission } };
    },
    async revokeResourceAccess(req, ctx) {
      const { actor } = await requireGrantManager(ctx, req.accountId, req.resourceId);
      const userId = required(req.userId, 'user_id');
      await deps.grants.revoke(req.accountId, req.resourceId, userId);
      await audited(actor, req.accountId, req.resourceId, { grantee: userId, granted: 'none' });
      return {};
    },
    async listResourceGrants(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const rows = await deps.grants.list(req.accountId, required(req.resourceId, 'resource_id'));
      return { grants: rows.map((g) => ({ resourceId: req.resourceId, userId: g.userId, permission: toProto[g.permission] })), restricted: await deps.grants.restricted(req.accountId, req.resourceId) };
    },
    async checkResourceAccess(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const wanted = permission(req.permission);
      const resource = await resourceOf(req.accountId, required(req.resourceId, 'resource_id'));
      const user = await store.getUser(required(req.userId, 'user_id'));
      if (!user) return { allowed: false, reason: 'NO_ACCESS' };
      const decision = checkResourceAccess({ id: user.id, memberships: user.memberships, grants: await userGrants(req.accountId, resource.id, user.id) }, resource, wanted);
      return decision.allowed ? { allowed: true, reason: `ALLOWED_BY_${decision.via.toUpperCase()}` } : { allowed: false, reason: decision.reason };
    },
  };
}
