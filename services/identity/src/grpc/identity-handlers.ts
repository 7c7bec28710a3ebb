import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AppError, invalidArgument, notFound } from '#libs/errors/index.ts';
import type { AuditEventInput } from '../domain/audit-event.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { AccountState, IdentityService, LoginOutcome, Role as ProtoRole } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { IdentityCore } from '../identity-core.ts';
import type { AccountRecord, UserRecord } from '../store/postgres-identity-store.ts';
import type { Role } from '../domain/roles.ts';

const roleToProto: Record<Role, ProtoRole> = { owner: ProtoRole.OWNER, admin: ProtoRole.ADMIN, member: ProtoRole.MEMBER, viewer: ProtoRole.VIEWER };
const roleFromProto = (role: ProtoRole, field = 'role'): Role => {
  const found = (Object.entries(roleToProto) as [Role, ProtoRole][]).find(([, v]) => v === role);
  if (!found) throw invalidArgument(field, 'must be one of ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER, ROLE_VIEWER');
  return found[0];
};

function accountToProto(a: AccountRecord, effectivelySuspended = a.state === 'suspended') {
  return {
    id: a.id,
    name: a.name,
    parentId: a.parentId ?? '',
    depth: a.depth,
    state: a.state === 'active' ? AccountState.ACTIVE : AccountState.SUSPENDED,
    effectivelySuspended,
    requireTotp: a.requireTotp,
    createdAt: timestampFromMs(a.createdAtMs),
  };
}

function userToProto(u: UserRecord) {
  return {
    id: u.id,
    username: u.username,
    memberships: u.memberships.map((m) => ({ accountId: m.accountId, role: roleToProto[m.role] })),
    totpEnabled: false,
    createdAt: timestampFromMs(u.createdAtMs),
  };
}

const required = (value: string, field: string): string => {
  if (!value) throw invalidArgument(field, 'is required');
  if (value.length > 128) throw invalidArgument(field, 'must be at most 128 characters');
  return value;
};

const pageSize = (n: number): number => (n === 0 ? 100 : Math.min(n, 1_000));

/** gRPC ⇄ identity core. Translation and admin checks only. */
export function identityHandlers(core: IdentityCore, requireAdmin: RequireAdmin, audit: (events: AuditEventInput[]) => Promise<void> = async () => {}): Partial<ServiceImpl<typeof IdentityService>> {
  return {
    async createAccount(req, ctx) {
      // A root account is made by bootstrap only; subaccounts by an admin of the parent.
      await requireAdmin(ctx, required(req.parentId, 'parent_id'), 'manage_accounts');
      return { account: accountToProto(await core.createAccount({ name: req.name, parentId: req.parentId })) };
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
      const size = pageSize(req.pageSize);
      const items = await core.store.descendants(root, { limit: size, afterId: req.pageToken || undefined });
      return { accounts: items.map((a) => accountToProto(a)), nextPageToken: items.length === size ? items.at(-1)!.id : '' };
    },
    async getAccountTree(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const path = await core.store.accountPath(req.accountId);
      const account = path.at(-1);
      if (!account) throw notFound('account_id', 'account');
      const suspended = path.some((a) => a.state === 'suspended');
      const descendants = req.includeDescendants ? await core.store.descendants(req.accountId) : [];
      return {
        account: accountToProto(account, suspended),
        ancestors: path.slice(0, -1).map((a, i) => accountToProto(a, path.slice(0, i + 1).some((p) => p.state === 'suspended'))),
        descendants: descendants.map((a) => accountToProto(a, suspended || a.state === 'suspended')),
      };
    },
    async suspendAccount(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_accounts');
      if (req.reason.length > 256) throw invalidArgument('reason', 'must be at most 256 characters');
      return { account: accountToProto(await core.setSuspended(req.accountId, true), true) };
    },
    async resumeAccount(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_accounts');
      const account = await core.setSuspended(req.accountId, false);
      const path = await core.store.accountPath(account.id);
      return { account: accountToProto(account, path.some((a) => a.state === 'suspended')) };
    },
    async renameAccount(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      return { account: accountToProto(await core.renameAccount(req.accountId, req.name)) };
    },
    async createUser(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      const user = await core.createUser({ username: req.username, password: req.password, accountId: req.accountId, role: roleFromProto(req.role) });
      return { user: userToProto(user) };
    },
    async getUser(req, ctx) {
      const user = await core.store.getUser(required(req.userId, 'user_id'));
      if (!user) throw notFound('user_id', 'user');
      await requireAdmin(ctx, user.memberships[0]?.accountId ?? '', 'read');
      return { user: userToProto(user) };
    },
    async listUsers(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const size = pageSize(req.pageSize);
      const items = await core.store.listUsers(req.accountId, { limit: size, afterId: req.pageToken || undefined });
      return { users: items.map(userToProto), nextPageToken: items.length === size ? items.at(-1)!.id : '' };
    },
    async setMembership(req, ctx) {
      const actor = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'write');
      const role = roleFromProto(req.role);
      const user = await core.store.getUser(required(req.userId, 'user_id'));
      if (!user) throw notFound('user_id', 'user');
      await core.getAccount(req.accountId);
      // Only an owner (or a master token / mesh service) may make someone an owner.
      if (role === 'owner' && actor.kind === 'user' && actor.role !== 'owner') throw new AppError('PERMISSION_DENIED', 'only an owner may grant the owner role', { reason: 'OWNER_REQUIRED' });
      const before = user.memberships.find((m) => m.accountId === req.accountId)?.role;
      await core.store.setMembership(user.id, req.accountId, role);
      await audit([{ kind: 'role_changed', outcome: 'success', accountId: req.accountId, subject: user.id, actorUserId: actor.kind === 'user' ? actor.subject : null, details: { from: before ?? 'none', to: role } }]);
      return { user: userToProto((await core.store.getUser(user.id))!) };
    },
    async verifyPassword(req) {
      // Service-to-service: authz asks on behalf of an MQTT/HTTP client. The answer is the outcome.
      if (!req.username) throw invalidArgument('username', 'is required');
      if (req.password.length > 1024) throw invalidArgument('password', 'must be at most 1024 characters');
      const outcome = await core.checkPassword({ username: req.username, password: req.password, accountId: req.accountId || undefined });
      if (!outcome.allowed) {
        return { allowed: false, reason: outcome.reason, outcome: outcome.reason === 'ACCOUNT_SUSPENDED' ? LoginOutcome.ACCOUNT_SUSPENDED : LoginOutcome.INVALID_CREDENTIALS };
      }
      return { allowed: true, reason: 'ALLOWED', outcome: LoginOutcome.OK, userId: outcome.user.id, accountId: outcome.accountId, role: roleToProto[outcome.role] };
    },
  };
}
