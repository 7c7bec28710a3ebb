import { createRoute, z } from '@hono/zod-openapi';
import { Account, AccountId, Cursor, Limit, Role, User, UserId } from '../api-schemas.ts';
import { accountJson, roles, userJson } from '../proto-json.ts';
import type { AdminApiDeps, ApiApp } from '../admin-api.ts';
import { jsonBody, nextCursor, ok, problems } from './route-kit.ts';

const tags = ['accounts'];
const userTags = ['users'];
const AccountParam = z.object({ account_id: AccountId.openapi({ param: { name: 'account_id', in: 'path' } }) });
const UserParam = z.object({ user_id: UserId.openapi({ param: { name: 'user_id', in: 'path' } }) });
const AccountOut = z.object({ account: Account });
const UserOut = z.object({ user: User });
const Name = z.string().trim().min(1, 'is required').max(128, 'must be at most 128 characters');

/** Accounts (IdentityService account RPCs) and users and their roles (user / membership RPCs). */
export function accountRoutes(api: ApiApp, { peers }: AdminApiDeps): void {
  const { identity } = peers;

  api.openapi(
    createRoute({
      method: 'get', path: '/accounts', tags, summary: 'List the accounts of a subtree (ListAccounts)',
      request: { query: z.object({ root_id: AccountId.optional().openapi({ description: "subtree root; the caller's account when absent" }), limit: Limit(1_000), cursor: Cursor }) },
      responses: { 200: ok(z.object({ accounts: z.array(Account), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await identity.listAccounts({ rootId: q.root_id ?? caller.accountId, pageSize: q.limit ?? 100, pageToken: q.cursor ?? '' }, caller.auth);
      return c.json({ accounts: res.accounts.map(accountJson), next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/accounts', tags, summary: 'Create a subaccount (CreateAccount)',
      request: { body: jsonBody(z.object({ name: Name, parent_id: AccountId.optional().openapi({ description: "the caller's account when absent" }) })) },
      responses: { 201: ok(AccountOut, 'created'), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await identity.createAccount({ name: b.name, parentId: b.parent_id ?? caller.accountId }, caller.auth);
      return c.json({ account: accountJson(res.account!) }, 201);
    },
  );
  api.openapi(
    createRoute({ method: 'get', path: '/accounts/{account_id}', tags, summary: 'One account (GetAccount)', request: { params: AccountParam }, responses: { 200: ok(AccountOut), ...problems } }),
    async (c) => {
      const res = await identity.getAccount({ accountId: c.req.valid('param').account_id }, c.get('caller').auth);
      return c.json({ account: accountJson(res.account!) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'patch', path: '/accounts/{account_id}', tags, summary: 'Rename an account or set its policy (RenameAccount, SetAccountPolicy)',
      request: { params: AccountParam, body: jsonBody(z.object({ name: Name.optional(), require_totp: z.boolean().optional() }).refine((b) => b.name !== undefined || b.require_totp !== undefined, { message: 'name at least one of name, require_totp', path: ['name'] })) },
      responses: { 200: ok(AccountOut), ...problems },
    }),
    async (c) => {
      const { account_id } = c.req.valid('param');
      const b = c.req.valid('json');
      const auth = c.get('caller').auth;
      let account = b.name === undefined ? undefined : (await identity.renameAccount({ accountId: account_id, name: b.name }, auth)).account;
      if (b.require_totp !== undefined) account = (await identity.setAccountPolicy({ accountId: account_id, requireTotp: b.require_totp }, auth)).account;
      return c.json({ account: accountJson(account!) }, 200);
    },
  );
  for (const verb of ['suspend', 'resume'] as const) {
    api.openapi(
      createRoute({
        method: 'post', path: `/accounts/{account_id}/${verb}`, tags, summary: verb === 'suspend' ? 'Suspend an account and its subtree (SuspendAccount)' : 'Resume a suspended account (ResumeAccount)',
        request: { params: AccountParam, body: { required: false, content: { 'application/json': { schema: z.object({ reason: z.string().max(256, 'must be at most 256 characters').optional() }) } } } },
        responses: { 200: ok(AccountOut), ...problems },
      }),
      async (c) => {
        const { account_id } = c.req.valid('param');
        const auth = c.get('caller').auth;
        const res = verb === 'suspend' ? await identity.suspendAccount({ accountId: account_id, reason: c.req.valid('json')?.reason ?? '' }, auth) : await identity.resumeAccount({ accountId: account_id }, auth);
        return c.json({ account: accountJson(res.account!) }, 200);
      },
    );
  }
  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{account_id}/tree', tags, summary: 'Ancestors and descendants of an account (GetAccountTree)',
      request: { params: AccountParam },
      responses: { 200: ok(z.object({ account: Account, ancestors: z.array(Account), descendants: z.array(Account) })), ...problems },
    }),
    async (c) => {
      const res = await identity.getAccountTree({ accountId: c.req.valid('param').account_id, includeDescendants: true }, c.get('caller').auth);
      return c.json({ account: accountJson(res.account!), ancestors: res.ancestors.map(accountJson), descendants: res.descendants.map(accountJson) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/users', tags: userTags, summary: 'Users of an account (ListUsers)',
      request: { query: z.object({ account_id: AccountId.optional(), limit: Limit(1_000), cursor: Cursor }) },
      responses: { 200: ok(z.object({ users: z.array(User), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await identity.listUsers({ accountId: q.account_id ?? caller.accountId, pageSize: q.limit ?? 100, pageToken: q.cursor ?? '' }, caller.auth);
      return c.json({ users: res.users.map(userJson), next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/users', tags: userTags, summary: 'Create a user with a role in an account (CreateUser)',
      request: { body: jsonBody(z.object({ username: z.string().min(1, 'is required').max(128), password: z.string().min(1, 'is required').max(1024), account_id: AccountId.optional(), role: Role })) },
      responses: { 201: ok(UserOut, 'created'), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await identity.createUser({ username: b.username, password: b.password, accountId: b.account_id ?? caller.accountId, role: roles[b.role] }, caller.auth);
      return c.json({ user: userJson(res.user!) }, 201);
    },
  );
  api.openapi(
    createRoute({ method: 'get', path: '/users/{user_id}', tags: userTags, summary: 'One user (GetUser)', request: { params: UserParam }, responses: { 200: ok(UserOut), ...problems } }),
    async (c) => {
      const res = await identity.getUser({ userId: c.req.valid('param').user_id }, c.get('caller').auth);
      return c.json({ user: userJson(res.user!) }, 200);
    },
  );
  const MembershipParams = UserParam.extend({ account_id: AccountId.openapi({ param: { name: 'account_id', in: 'path' } }) });
  api.openapi(
    createRoute({
      method: 'put', path: '/users/{user_id}/memberships/{account_id}', tags: userTags, summary: "Set a user's role in an account (SetMembership)",
      request: { params: MembershipParams, body: jsonBody(z.object({ role: Role })) },
      responses: { 200: ok(UserOut), ...problems },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const res = await identity.setMembership({ userId: p.user_id, accountId: p.account_id, role: roles[c.req.valid('json').role] }, c.get('caller').auth);
      return c.json({ user: userJson(res.user!) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'delete', path: '/users/{user_id}/memberships/{account_id}', tags: userTags, summary: 'Remove a user from an account (RemoveMembership)',
      request: { params: MembershipParams },
      responses: { 200: ok(UserOut), ...problems },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const res = await identity.removeMembership({ userId: p.user_id, accountId: p.account_id }, c.get('caller').auth);
      return c.json({ user: userJson(res.user!) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/users/{user_id}/totp', tags: userTags, summary: 'Start TOTP enrollment: the secret and otpauth URI to scan (EnrollTotp)',
      request: { params: UserParam },
      responses: { 200: ok(z.object({ otpauth_uri: z.string(), secret: z.string() })), ...problems },
    }),
    async (c) => {
      const res = await identity.enrollTotp({ userId: c.req.valid('param').user_id }, c.get('caller').auth);
      return c.json({ otpauth_uri: res.otpauthUri, secret: res.secret }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/users/{user_id}/totp/confirm', tags: userTags, summary: 'Confirm TOTP enrollment with a current code; recovery codes are shown once (ConfirmTotp)',
      request: { params: UserParam, body: jsonBody(z.object({ code: z.string().regex(/^\d{6,8}$/, 'must be the 6-digit code') })) },
      responses: { 200: ok(z.object({ recovery_codes: z.array(z.string()) })), ...problems },
    }),
    async (c) => {
      const res = await identity.confirmTotp({ userId: c.req.valid('param').user_id, code: c.req.valid('json').code }, c.get('caller').auth);
      return c.json({ recovery_codes: res.recoveryCodes }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'delete', path: '/users/{user_id}/totp', tags: userTags, summary: "Disable a user's TOTP: the user with a current or recovery code, an admin without (DisableTotp)",
      request: { params: UserParam, body: { required: false, content: { 'application/json': { schema: z.object({ code: z.string().max(32).optional() }) } } } },
      responses: { 200: ok(z.object({ user_id: z.string() })), ...problems },
    }),
    async (c) => {
      const { user_id } = c.req.valid('param');
      await identity.disableTotp({ userId: user_id, code: c.req.valid('json')?.code ?? '' }, c.get('caller').auth);
      return c.json({ user_id }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/users/{user_id}/password', tags: userTags, summary: "Change a user's password with the current one; every session of the user ends (ChangePassword)",
      request: { params: UserParam, body: jsonBody(z.object({ current_password: z.string().min(1, 'is required').max(1024), new_password: z.string().min(1, 'is required').max(1024) })) },
      responses: { 200: ok(z.object({ user_id: z.string() })), ...problems },
    }),
    async (c) => {
      const { user_id } = c.req.valid('param');
      const b = c.req.valid('json');
      await identity.changePassword({ userId: user_id, currentPassword: b.current_password, newPassword: b.new_password }, c.get('caller').auth);
      return c.json({ user_id }, 200);
    },
  );
}
