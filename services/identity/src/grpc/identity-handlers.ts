import { AppError, failedPrecondition, invalidArgument, notFound } from '#libs/errors/index.ts';
import { actorOf, requireService, type AdminPrincipal, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { mayAssignRole } from '#libs/policy/role-policy.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { LoginOutcome, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { looksLikeSecret, type AuditEventInput } from '../domain/audit-event.ts';
import { wouldRemoveLastOwner, type Role } from '../domain/roles.ts';
import type { IdentityCore } from '../identity-core.ts';
import type { Sessions } from '../sessions.ts';
import type { AccountCursor, UserRecord } from '../domain/ports.ts';
import { accountToProto, actorFields, loginOutcomes, pageSize, required, roleFromProto, roleToProto, userToProto } from './proto-mapping.ts';

export interface IdentityHandlerDeps {
  core: IdentityCore;
  requireAdmin: RequireAdmin;
  audit: (events: AuditEventInput[]) => Promise<void>;
  /** Which of these users have 2FA active. */
  totpActiveAmong: (userIds: readonly string[]) => Promise<Set<string>>;
  verifyPassword: Sessions['verifyPassword'];
  secretKey: Uint8Array;
}

/**
 * A membership change from `from` to `to`: the role table decides (`mayAssignRole`: nobody hands
 * out or takes away a role with more power than their own, so only an owner, a master token or a
 * mesh service touches an owner).
 */
function assertMayAssign(actor: AdminPrincipal, from: Role | undefined, to: Role | null): void {
  const decision = mayAssignRole(actorOf(actor), from ?? null, to);
  if (decision.allowed) return;
  const message = decision.reason === 'OWNER_REQUIRED' ? 'only an owner may grant, change or remove the owner role' : `a ${actor.kind}${actor.role ? ` (${actor.role})` : ''} credential may not ${to ? `grant the ${to} role` : 'remove this role'}`;
  throw new AppError('PERMISSION_DENIED', message, { reason: decision.reason });
}

/** gRPC ⇄ identity core for the account tree, users and memberships. Translation, admin checks and audit only. */
/** ListAccounts' page cursor: the (depth, id) of the page's last account, as the list is ordered; opaque to callers. */
const accountPageToken = {
  of: (a: { depth: number; id: string }) => Buffer.from(`a1:${a.depth}:${a.id}`).toString('base64url'),
  parse(token: string): AccountCursor {
    const text = token.length <= 1_024 ? Buffer.from(token, 'base64url').toString() : '';
    const m = /^a1:(\d{1,4}):(.+)$/s.exec(text);
    if (!m) throw invalidArgument('page_token', 'is not a next_page_token of this list');
    return { depth: Number(m[1]), id: m[2]! };
  },
};

export function identityHandlers(deps: IdentityHandlerDeps): Partial<ServiceImpl<typeof IdentityService>> {
  const { core, requireAdmin, audit } = deps;
  const toProto = async (user: UserRecord) => userToProto(user, (await deps.totpActiveAmong([user.id])).has(user.id));

  /** The user, if the caller may read at least one account they belong to (else NOT_FOUND: no probing). */
  async function readableUser(ctx: CallContext, userId: string): Promise<UserRecord> {
    const user = await core.store.getUser(required(userId, 'user_id'));
    if (!user) throw notFound('user_id', 'user');
    let denied: unknown = notFound('user_id', 'user');
    for (const m of user.memberships) {
      try {
        await requireAdmin(ctx, m.accountId, 'read');
        return user;
      } catch (error) {
        if ((error as { code?: string }).code === 'UNAUTHENTICATED') throw error;
        denied = error;
      }
    }
    throw denied;
  }

  async function changeState(ctx: CallContext, accountId: string, suspended: boolean, reason: string) {
    const actor = await requireAdmin(ctx, required(accountId, 'account_id'), 'suspend');
    if (reason.length > 256) throw invalidArgument('reason', 'must be at most 256 characters');
    // The reason goes to the audit log, which refuses anything that looks like a secret: check before acting.
    if (reason && looksLikeSecret(reason)) throw invalidArgument('reason', 'looks like a secret; describe the reason in words');
    const account = await core.setSuspended(accountId, suspended);
    const { details, ...who } = actorFields(actor);
    await audit([{ kind: suspended ? 'account_suspended' : 'account_unsuspended', outcome: 'success', accountId, subject: accountId, ...who, details: { ...details, ...(reason ? { note: reason.slice(0, 256) } : {}) } }]);
    const path = await core.store.accountPath(account.id);
    return { account: accountToProto(account, path.some((a) => a.state === 'suspended')) };
  }

  return {
    async createAccount(req, ctx) {
      // A root account is made by bootstrap only; subaccounts by an admin of the parent.
      const actor = await requireAdmin(ctx, required(req.parentId, 'parent_id'), 'manage_subaccounts');
      const account = await core.createAccount({ name: req.name, parentId: req.parentId });
      await audit([{ kind: 'account_created', outcome: 'success', accountId: account.id, subject: account.id, ...actorFields(actor) }]);
      return { account: accountToProto(account) };
    },
    async getAccount(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const path = await core.store.accountPath(req.accountId);
      const account = path.at(-1);
      if (!account) throw notFound('account_id', 'account');
      return { account: accountToProto(account, path.some((a) => a.state === 'suspended')) };
    },
    async listAccounts(req, ctx) {
      const root = required(req.rootId, 'root_id');
      await requireAdmin(ctx, root, 'read');
      const path = await core.store.accountPath(root);
      const rootSuspended = path.some((a) => a.state === 'suspended');
      const size = pageSize(req.pageSize);
      const items = await core.store.descendants(root, { limit: size, after: req.pageToken ? accountPageToken.parse(req.pageToken) : undefined });
      // Effective state needs each account's own ancestors inside the subtree too.
      const all = rootSuspended ? [] : await core.store.descendants(root);
      const byId = new Map(all.map((a) => [a.id, a]));
      const suspendedBelow = (id: string | undefined): boolean => {
        for (let a = id ? byId.get(id) : undefined; a; a = a.parentId ? byId.get(a.parentId) : undefined) if (a.state === 'suspended') return true;
        return false;
      };
      return { accounts: items.map((a) => accountToProto(a, rootSuspended || suspendedBelow(a.id))), nextPageToken: items.length === size ? accountPageToken.of(items.at(-1)!) : '' };
    },
    async getAccountTree(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const path = await core.store.accountPath(req.accountId);
      const account = path.at(-1);
      if (!account) throw notFound('account_id', 'account');
      const suspended = path.some((a) => a.state === 'suspended');
      const descendants = req.includeDescendants ? await core.store.descendants(req.accountId) : [];
      const byId = new Map(descendants.map((a) => [a.id, a]));
      const suspendedWithin = (id: string | undefined): boolean => {
        for (let a = id ? byId.get(id) : undefined; a; a = a.parentId ? byId.get(a.parentId) : undefined) if (a.state === 'suspended') return true;
        return false;
      };
      return {
        account: accountToProto(account, suspended),
        ancestors: path.slice(0, -1).map((a, i) => accountToProto(a, path.slice(0, i + 1).some((p) => p.state === 'suspended'))),
        descendants: descendants.map((a) => accountToProto(a, suspended || suspendedWithin(a.id))),
      };
    },
    async suspendAccount(req, ctx) {
      return changeState(ctx, req.accountId, true, req.reason);
    },
    async resumeAccount(req, ctx) {
      return changeState(ctx, req.accountId, false, '');
    },
    async renameAccount(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_subaccounts');
      const account = await core.renameAccount(req.accountId, req.name);
      await audit([{ kind: 'account_renamed', outcome: 'success', accountId: account.id, subject: account.id, ...actorFields(actor) }]);
      const path = await core.store.accountPath(account.id);
      return { account: accountToProto(account, path.some((a) => a.state === 'suspended')) };
    },
    async setAccountPolicy(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_subaccounts');
      const account = await core.setAccountPolicy(req.accountId, { requireTotp: req.requireTotp, requireSso: req.requireSso });
      const { details, ...who } = actorFields(actor);
      const changed = {
        ...(req.requireTotp === undefined ? {} : { two_factor_required: String(req.requireTotp) }),
        ...(req.requireSso === undefined ? {} : { sso_required: String(req.requireSso) }),
      };
      await audit([{ kind: 'account_policy_changed', outcome: 'success', accountId: account.id, subject: account.id, ...who, details: { ...details, ...changed } }]);
      const path = await core.store.accountPath(account.id);
      return { account: accountToProto(account, path.some((a) => a.state === 'suspended')) };
    },
    async createUser(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_users');
      const role = roleFromProto(req.role);
      assertMayAssign(actor, undefined, role);
      const user = await core.createUser({ username: req.username, password: req.password, accountId: req.accountId, role, email: req.email });
      const { details, ...who } = actorFields(actor);
      await audit([{ kind: 'member_added', outcome: 'success', accountId: req.accountId, subject: user.id, ...who, details: { ...details, role, new_user: 'true' } }]);
      return { user: userToProto(user, false) };
    },
    async getUser(req, ctx) {
      return { user: await toProto(await readableUser(ctx, req.userId)) };
    },
    async listUsers(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const size = pageSize(req.pageSize);
      const items = await core.store.listUsers(req.accountId, { limit: size, afterId: req.pageToken || undefined });
      const totp = await deps.totpActiveAmong(items.map((u) => u.id));
      return { users: items.map((u) => userToProto(u, totp.has(u.id))), nextPageToken: items.length === size ? items.at(-1)!.id : '' };
    },
    async setMembership(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_users');
      const role = roleFromProto(req.role);
      const user = await core.store.getUser(required(req.userId, 'user_id'));
      if (!user) throw notFound('user_id', 'user');
      const account = await core.getAccount(req.accountId);
      const before = user.memberships.find((m) => m.accountId === req.accountId)?.role;
      assertMayAssign(actor, before, role);
      if (account.depth === 1 && wouldRemoveLastOwner(await core.store.countOwners(account.id), before ?? null, role)) {
        throw failedPrecondition('role: the last owner of a root account cannot be demoted');
      }
      await core.store.setMembership(user.id, req.accountId, role);
      const { details, ...who } = actorFields(actor);
      await audit([{ kind: before ? 'role_changed' : 'member_added', outcome: 'success', accountId: req.accountId, subject: user.id, ...who, details: { ...details, from: before ?? 'none', to: role } }]);
      return { user: await toProto((await core.store.getUser(user.id))!) };
    },
    async removeMembership(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_users');
      const user = await core.store.getUser(required(req.userId, 'user_id'));
      const membership = user?.memberships.find((m) => m.accountId === req.accountId);
      if (!user || !membership) throw notFound('user_id', 'membership');
      assertMayAssign(actor, membership.role, null);
      const account = await core.getAccount(req.accountId);
      if (account.depth === 1 && wouldRemoveLastOwner(await core.store.countOwners(req.accountId), membership.role, null)) {
        throw failedPrecondition('user_id: the last owner of a root account cannot be removed');
      }
      await core.store.removeMembership(user.id, req.accountId);
      const { details, ...who } = actorFields(actor);
      await audit([{ kind: 'member_removed', outcome: 'success', accountId: req.accountId, subject: user.id, ...who, details: { ...details, from: membership.role } }]);
      return { user: await toProto((await core.store.getUser(user.id))!) };
    },
    async verifyPassword(req, ctx) {
      // Service-to-service only (authz, for a client's username + password): anyone else could use
      // it as a password oracle. Same throttle and 2FA rules as Login; the answer is the outcome.
      requireService(deps.secretKey, ctx);
      const outcome = await deps.verifyPassword({ username: req.username, password: req.password, accountId: req.accountId || undefined, peerIp: req.peerIp || null });
      if (!outcome.ok) return { allowed: false, reason: outcome.reason, outcome: loginOutcomes[outcome.reason] ?? LoginOutcome.INVALID_CREDENTIALS };
      return { allowed: true, reason: 'ALLOWED', outcome: LoginOutcome.OK, userId: outcome.userId, accountId: outcome.accountId, role: roleToProto[outcome.role] };
    },
  };
}

