/**
 * Dataset-level access: the third level after company (account) and user (role).
 *
 * Rules:
 * 1. A resource belongs to one account. A user's role on that account (held there or on an
 *    ancestor, see `effectiveRole`) gives what the role table (libs/policy/role-policy.ts) says:
 *    `manage_users` → admin (admin, owner), `write` → write (member), else read (viewer).
 * 2. Explicit grants (`read` < `write` < `admin`) on a resource add to what the role gives.
 * 3. A *restricted* resource ignores roles: only users with a grant on it reach it.
 * 4. Who may grant/revoke on a resource: a role that may `manage_users` in its account (admin,
 *    owner), or a user holding `admin` on it. So an admin can always recover a restricted resource by granting themself.
 * 5. A suspended account (or ancestor) denies every access to its resources.
 */
import { mayPerform } from '#libs/policy/role-policy.ts';
import { effectiveRole, type Membership, type Role } from './roles.ts';

export const permissions = ['read', 'write', 'admin'] as const;
export type Permission = (typeof permissions)[number];

const rank: Readonly<Record<Permission, number>> = { read: 1, write: 2, admin: 3 };
const permissionOfRole = (role: Role): Permission => (mayPerform(role, 'manage_users') ? 'admin' : mayPerform(role, 'write') ? 'write' : 'read');

export function isPermission(value: string): value is Permission {
  return (permissions as readonly string[]).includes(value);
}

export interface Resource {
  id: string;
  /** Root-first account ids down to the owning account (see `pathOf`). */
  accountPath: readonly string[];
  restricted: boolean;
  /** True when the owning account or an ancestor is suspended. */
  accountSuspended?: boolean;
}

export interface ResourceGrant {
  resourceId: string;
  userId: string;
  permission: Permission;
}

export interface ResourceUser {
  id: string;
  memberships: readonly Membership[];
  /** Grants of this user (any resources; only those on the resource asked about count). */
  grants: readonly ResourceGrant[];
}

export type ResourceAccessDecision =
  | { allowed: true; via: 'role' | 'grant'; permission: Permission }
  | { allowed: false; reason: 'ACCOUNT_SUSPENDED' | 'RESTRICTED' | 'NO_ACCESS' | 'INSUFFICIENT_PERMISSION' };

/** The strongest permission the user has on the resource, and where it comes from. */
export function resourcePermissionOf(user: ResourceUser, resource: Resource): { permission: Permission; via: 'role' | 'grant' } | undefined {
  let best: { permission: Permission; via: 'role' | 'grant' } | undefined;
  if (!resource.restricted) {
    const role = effectiveRole(user.memberships, resource.accountPath);
    if (role) best = { permission: permissionOfRole(role.role), via: 'role' };
  }
  for (const grant of user.grants) {
    if (grant.resourceId !== resource.id || grant.userId !== user.id) continue;
    if (best === undefined || rank[grant.permission] > rank[best.permission]) best = { permission: grant.permission, via: 'grant' };
  }
  return best;
}

export function checkResourceAccess(user: ResourceUser, resource: Resource, permission: Permission): ResourceAccessDecision {
  if (resource.accountSuspended) return { allowed: false, reason: 'ACCOUNT_SUSPENDED' };
  const held = resourcePermissionOf(user, resource);
  if (held === undefined) return { allowed: false, reason: resource.restricted ? 'RESTRICTED' : 'NO_ACCESS' };
  if (rank[held.permission] < rank[permission]) return { allowed: false, reason: 'INSUFFICIENT_PERMISSION' };
  return { allowed: true, via: held.via, permission: held.permission };
}

/** Rule 4: may `actor` grant or revoke access on `resource`? */
export function canManageGrants(actor: ResourceUser, resource: Resource): boolean {
  const role = effectiveRole(actor.memberships, resource.accountPath);
  if (role && mayPerform(role.role, 'manage_users')) return true;
  return actor.grants.some((grant) => grant.resourceId === resource.id && grant.userId === actor.id && grant.permission === 'admin');
}
