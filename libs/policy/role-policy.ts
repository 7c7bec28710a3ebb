/**
 * What may a role (or a credential kind) do in its account subtree — the one table every path asks:
 * every admin RPC (through libs/admin-auth), authz's decisions for users, the RabbitMQ adapter, the
 * MQTT edge, and identity's dataset grants. Pure: no I/O, no proto types.
 *
 * The reasoning behind each column (root README, "Roles"):
 * - owner: everything in its subtree, including making and unmaking owners.
 * - admin: runs the account day to day — users, tokens, subaccounts, limits, suspension, the audit
 *   log, kicking clients — but may not grant the owner role nor change or remove an owner: an
 *   admin can never raise anyone (themself included) above admin (see `mayAssignRole`).
 * - member: a device / app developer. Uses the data plane (read, publish, write) and nothing that
 *   acts on other people: no tokens (a token is delegated power: a member minting a master token
 *   would be an owner), no users, no limits, no kicking other people's clients, no audit log.
 * - viewer: reads — the account, its users, tokens' metadata, limits, usage, clients — nothing else.
 * Credential kinds (flespi): a master token is owner-equivalent in its subtree; a standard token
 * may do everything but manage tokens and subaccounts (so it may not make owners or admins either:
 * both hold powers it lacks); an acl token may do no admin at all (its topic rules govern its data
 * plane); a mesh service credential (`tgsvc_…`) may do everything.
 */

export const roles = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof roles)[number];

export const operations = [
  /** See the account, its subaccounts, users, tokens' metadata, limits, usage, decisions, clients; subscribe. */
  'read',
  /** The data plane: publish, write through the API, create/change data (not people or credentials). */
  'write',
  /** Create, change, rotate, revoke API tokens. */
  'manage_tokens',
  /** Add users, change and remove their roles, reset their 2FA, dataset grants. */
  'manage_users',
  /** Create subaccounts; rename an account; its sign-in policy (2FA required). */
  'manage_subaccounts',
  /** Set limits over the account tree. */
  'manage_limits',
  /** Suspend and resume an account (and with it its subtree). */
  'suspend',
  /** Read the security audit log. */
  'audit_read',
  /** Disconnect another client from the broker edge. */
  'kick',
  /** Grant the owner role, change or remove an owner. */
  'manage_owners',
] as const;
export type Operation = (typeof operations)[number];

export const credentialKinds = ['master', 'standard', 'acl', 'service'] as const;
export type CredentialKind = (typeof credentialKinds)[number];

/** Who is asking: a user by their role in the target account, or a credential by its kind. */
export type Actor = { kind: 'user'; role: Role | undefined } | { kind: CredentialKind };

const all = new Set<Operation>(operations);
const without = (...ops: Operation[]) => new Set<Operation>(operations.filter((o) => !ops.includes(o)));

/** The table: role or credential kind → the operations it may perform in its subtree. */
export const rolePolicy: Readonly<Record<Role | CredentialKind, ReadonlySet<Operation>>> = Object.freeze({
  owner: all,
  admin: without('manage_owners'),
  member: new Set<Operation>(['read', 'write']),
  viewer: new Set<Operation>(['read']),
  master: all,
  standard: without('manage_tokens', 'manage_subaccounts', 'suspend', 'manage_owners'),
  acl: new Set<Operation>(),
  service: all,
});

export function isRole(value: string | undefined): value is Role {
  return (roles as readonly string[]).includes(value ?? '');
}

/** May a holder of `role` (or a credential of this kind) perform `operation`? */
export function mayPerform(role: Role | CredentialKind, operation: Operation): boolean {
  return rolePolicy[role].has(operation);
}

/** The table's column for an actor; a user without a known role has the empty column. */
function columnOf(actor: Actor): ReadonlySet<Operation> {
  if (actor.kind === 'user') return isRole(actor.role) ? rolePolicy[actor.role] : new Set();
  return rolePolicy[actor.kind];
}

export function actorMay(actor: Actor, operation: Operation): boolean {
  return columnOf(actor).has(operation);
}

/** True when the actor holds every power of `role` (or kind): what it may hand out without escalating. */
export function actorCovers(actor: Actor, role: Role | CredentialKind): boolean {
  const mine = columnOf(actor);
  for (const op of rolePolicy[role]) if (!mine.has(op)) return false;
  return true;
}

export type RoleAssignment = { allowed: true } | { allowed: false; reason: 'INSUFFICIENT_PRIVILEGE' | 'OWNER_REQUIRED' };

/**
 * May `actor` change a user's role in an account from `from` to `to` (null: not a member / remove)?
 * Needs `manage_users`, and the actor must cover both roles — nobody hands out or takes away more
 * than they hold. So an admin manages members, viewers and admins but never an owner, and a
 * standard token (no `manage_tokens`) may not make an admin.
 */
export function mayAssignRole(actor: Actor, from: Role | null, to: Role | null): RoleAssignment {
  if (!actorMay(actor, 'manage_users')) return { allowed: false, reason: 'INSUFFICIENT_PRIVILEGE' };
  for (const role of [from, to]) {
    if (role === null || actorCovers(actor, role)) continue;
    return { allowed: false, reason: role === 'owner' ? 'OWNER_REQUIRED' : 'INSUFFICIENT_PRIVILEGE' };
  }
  return { allowed: true };
}

/**
 * A token of `kind` may be created (or rotated, changed) only by an actor that covers it: a master
 * token is owner-equivalent, so only owners, master tokens and services make one.
 */
export function mayIssueToken(actor: Actor, kind: 'master' | 'standard' | 'acl'): boolean {
  return actorMay(actor, 'manage_tokens') && actorCovers(actor, kind);
}

/**
 * A data-plane action (authz's Authorize, the MQTT edge, foreign brokers) as an operation of the
 * table: connecting, subscribing and reading are `read`; publishing and writing are `write`; the
 * ACL's `admin` action is flespi's admin scope — tokens and subaccounts — so `manage_tokens`.
 */
export function operationOfAction(action: 'connect' | 'publish' | 'subscribe' | 'read' | 'write' | 'admin'): Operation {
  switch (action) {
    case 'connect':
    case 'subscribe':
    case 'read':
      return 'read';
    case 'publish':
    case 'write':
      return 'write';
    case 'admin':
      return 'manage_tokens';
  }
}
