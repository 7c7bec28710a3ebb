/**
 * Roles and who may do what in the account tree.
 *
 * Rules (the single place they are written down):
 * 1. A user holds at most one role per account; roles rank owner > admin > member > viewer.
 * 2. A role in account X applies to X and to its whole subtree, never to X's parent or siblings.
 *    Several memberships on one path combine: the highest role wins.
 * 3. `read`  (see the account, its users, resources, usage): any role.
 *    `write` (create/change resources such as devices and tokens): member, admin, owner.
 *    `manage` (rename, suspend, create subaccounts, limits, keys of the account): admin, owner.
 * 4. Memberships (`set_role`, adding: from=null, removing: to=null): admin or owner; but only an
 *    owner may grant the owner role or change/remove an existing owner. So an admin can never raise
 *    anyone (themself included) above admin nor demote an owner.
 * 5. Suspension is a separate question (`isEffectivelySuspended`); callers check both.
 * 6. The last owner of a root account may not be removed or demoted (`wouldRemoveLastOwner`).
 */
import { invalidArgument } from './errors.ts';

export const roles = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof roles)[number];

const rank: Readonly<Record<Role, number>> = { viewer: 1, member: 2, admin: 3, owner: 4 };

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function parseRole(value: string, field = 'role'): Role {
  const normalized = value.trim().toLowerCase();
  if (!isRole(normalized)) throw invalidArgument(field, `must be one of ${roles.join(', ')}`);
  return normalized;
}

export function isAtLeast(role: Role, minimum: Role): boolean {
  return rank[role] >= rank[minimum];
}

export interface Membership {
  accountId: string;
  role: Role;
}

export type AccountAction =
  | 'read'
  | 'write'
  | 'manage'
  | { kind: 'set_role'; /** current role of the target user in that account, null when adding */ from: Role | null; /** null when removing */ to: Role | null };

export type ManageDecision =
  | { allowed: true; role: Role; via: string }
  | { allowed: false; reason: 'NOT_A_MEMBER' | 'ROLE_TOO_LOW' | 'OWNER_REQUIRED' };

/**
 * The actor's effective role on the target: the highest role held on any account of
 * `targetAccountPath` (root-first ids down to the target, see `pathOf`), with the account it comes from.
 */
export function effectiveRole(actorMemberships: readonly Membership[], targetAccountPath: readonly string[]): { role: Role; via: string } | undefined {
  let best: { role: Role; via: string } | undefined;
  for (const membership of actorMemberships) {
    if (!targetAccountPath.includes(membership.accountId)) continue;
    if (best === undefined || rank[membership.role] > rank[best.role]) best = { role: membership.role, via: membership.accountId };
  }
  return best;
}

export function canManage(actorMemberships: readonly Membership[], targetAccountPath: readonly string[], action: AccountAction): ManageDecision {
  const effective = effectiveRole(actorMemberships, targetAccountPath);
  if (effective === undefined) return { allowed: false, reason: 'NOT_A_MEMBER' };
  const allow = (): ManageDecision => ({ allowed: true, role: effective.role, via: effective.via });
  if (action === 'read') return allow();
  if (action === 'write') return isAtLeast(effective.role, 'member') ? allow() : { allowed: false, reason: 'ROLE_TOO_LOW' };
  if (!isAtLeast(effective.role, 'admin')) return { allowed: false, reason: 'ROLE_TOO_LOW' };
  if (action === 'manage') return allow();
  const touchesOwner = action.from === 'owner' || action.to === 'owner';
  if (touchesOwner && effective.role !== 'owner') return { allowed: false, reason: 'OWNER_REQUIRED' };
  return allow();
}

/** True when this change would leave an account with no owner (`ownerCount` = owners it has now). */
export function wouldRemoveLastOwner(ownerCount: number, from: Role | null, to: Role | null): boolean {
  return from === 'owner' && to !== 'owner' && ownerCount <= 1;
}

/** Roles to put in an access token for `accountId`: the effective role there (one entry), or none. */
export function rolesForToken(memberships: readonly Membership[], accountPath: readonly string[]): Role[] {
  const effective = effectiveRole(memberships, accountPath);
  return effective ? [effective.role] : [];
}
