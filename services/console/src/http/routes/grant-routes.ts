import { createRoute, z } from '@hono/zod-openapi';
import { Permission } from '#gen/tollgate/identity/v1/identity_pb.js';
import { AccountId, UserId } from '../api-schemas.ts';
import type { AdminApiDeps, ApiApp } from '../admin-api.ts';
import { jsonBody, ok, problems } from './route-kit.ts';

const tags = ['datasets'];
const permissions = { read: Permission.READ, write: Permission.WRITE, admin: Permission.ADMIN } as const;
const PermissionName = z.enum(['read', 'write', 'admin']).openapi('Permission');
const nameOf = (p: Permission) => (Object.keys(permissions) as (keyof typeof permissions)[]).find((k) => permissions[k] === p) ?? null;
const DatasetParams = z.object({
  account_id: AccountId.openapi({ param: { name: 'account_id', in: 'path' } }),
  resource_id: z.string().regex(/^[A-Za-z0-9._:*-]{1,128}$/, 'must be a dataset id (letters, digits, . _ : * -)').openapi({ param: { name: 'resource_id', in: 'path' } }),
});
const GrantParams = DatasetParams.extend({ user_id: UserId.openapi({ param: { name: 'user_id', in: 'path' } }) });
const Grant = z.object({ resource_id: z.string(), user_id: z.string(), permission: PermissionName.nullable() }).openapi('Grant');
const base = '/accounts/{account_id}/datasets/{resource_id}';

/** Dataset-level grants (identity's grant RPCs): restrict a dataset, grant users read/write/admin on it. */
export function grantRoutes(api: ApiApp, { peers }: AdminApiDeps): void {
  const { identity } = peers;

  api.openapi(
    createRoute({ method: 'get', path: `${base}/grants`, tags, summary: "A dataset's grants and whether it is restricted (ListResourceGrants)", request: { params: DatasetParams }, responses: { 200: ok(z.object({ restricted: z.boolean(), grants: z.array(Grant) })), ...problems } }),
    async (c) => {
      const p = c.req.valid('param');
      const res = await identity.listResourceGrants({ accountId: p.account_id, resourceId: p.resource_id }, c.get('caller').auth);
      return c.json({ restricted: res.restricted, grants: res.grants.map((g) => ({ resource_id: g.resourceId, user_id: g.userId, permission: nameOf(g.permission) })) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'put', path: `${base}/restricted`, tags, summary: 'Restrict a dataset to its grantees, or open it to every member again (SetResourceRestricted)',
      request: { params: DatasetParams, body: jsonBody(z.object({ restricted: z.boolean() })) },
      responses: { 200: ok(z.object({ resource_id: z.string(), restricted: z.boolean() })), ...problems },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const { restricted } = c.req.valid('json');
      await identity.setResourceRestricted({ accountId: p.account_id, resourceId: p.resource_id, restricted }, c.get('caller').auth);
      return c.json({ resource_id: p.resource_id, restricted }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'put', path: `${base}/grants/{user_id}`, tags, summary: 'Grant a member read, write or admin on a dataset (GrantResourceAccess)',
      request: { params: GrantParams, body: jsonBody(z.object({ permission: PermissionName })) },
      responses: { 200: ok(Grant), ...problems },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const res = await identity.grantResourceAccess({ accountId: p.account_id, resourceId: p.resource_id, userId: p.user_id, permission: permissions[c.req.valid('json').permission] }, c.get('caller').auth);
      return c.json({ resource_id: res.grant!.resourceId, user_id: res.grant!.userId, permission: nameOf(res.grant!.permission) }, 200);
    },
  );
  api.openapi(
    createRoute({ method: 'delete', path: `${base}/grants/{user_id}`, tags, summary: "Take back a user's grant on a dataset (RevokeResourceAccess)", request: { params: GrantParams }, responses: { 200: ok(z.object({ resource_id: z.string(), user_id: z.string() })), ...problems } }),
    async (c) => {
      const p = c.req.valid('param');
      await identity.revokeResourceAccess({ accountId: p.account_id, resourceId: p.resource_id, userId: p.user_id }, c.get('caller').auth);
      return c.json({ resource_id: p.resource_id, user_id: p.user_id }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'get', path: `${base}/access`, tags, summary: 'May this user read / write / administer this dataset? (CheckResourceAccess)',
      request: { params: DatasetParams, query: z.object({ user_id: UserId, permission: PermissionName }) },
      responses: { 200: ok(z.object({ allowed: z.boolean(), reason: z.string() })), ...problems },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const q = c.req.valid('query');
      const res = await identity.checkResourceAccess({ accountId: p.account_id, resourceId: p.resource_id, userId: q.user_id, permission: permissions[q.permission] }, c.get('caller').auth);
      return c.json({ allowed: res.allowed, reason: res.reason }, 200);
    },
  );
}
