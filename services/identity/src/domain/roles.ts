/**
 * Memberships in the account tree: which role a user holds where.
 *
 * What a role may do is not decided here: that is the role table in libs/policy/role-policy.ts,
 * the one answer every service and adapter asks. This module only says where a role applies:
 * 1. A user holds at most one role per account; roles rank owner > admin > member > viewer.
 * 2. A role in account X applies to X and to its whole subtree, never to X's parent or siblings.
 *    Several memberships on one path combine: the highest role wins.
 * 3. Suspension is a separate question (`isEffectivelySuspended`); callers check both.
 * 4. The last owner of a root account may not be removed or demoted (`wouldRemoveLastOwner`).
 */
import { isRole, roles, type Role } from '#libs/policy/role-policy.ts';
import { invalidArgument } from './errors.ts';

export { isRole, roles, type Role };

const rank: Readonly<Record<Role, number>> = { viewer: 1, member: 2, admin: 3, owner: 4 };

export function parseRole(value: string, field = 'role'): Role {
  const normalized = value.trim().toLowerCase();
  if (!isRole(normalized)) throw invalidArgument(field, `must be one of ${roles.join(', ')}`);
  return normalized;
}

export interface Membership {
  accountId: string;
  role: Role;
}

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

/** True when this change would leave an account with no owner (`ownerCount` = owners it has now). */
export function wouldRemoveLastOwner(ownerCount: number, from: Role | null, to: Role | null): boolean {
  return from === 'owner' && to !== 'owner' && ownerCount <= 1;
}

/** Roles to put in an access token for `accountId`: the effective role there (one entry), or none. */
export function rolesForToken(memberships: readonly Membership[], accountPath: readonly string[]): Role[] {
  const effective = effectiveRole(memberships, accountPath);
  return effective ? [effective.role] : [];
}
