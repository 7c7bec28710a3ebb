import { createRoute, z } from '@hono/zod-openapi';
import { AccountId, Cursor, Limit, QueryBool, Rule, Token, TokenId, TokenKindName, TokenWithSecret } from '../api-schemas.ts';
import { ruleToProto, timestampOf, tokenJson, tokenKinds } from '../proto-json.ts';
import type { AdminApiDeps, ApiApp } from '../admin-api.ts';
import { jsonBody, nextCursor, ok, problems } from './route-kit.ts';

const tags = ['tokens'];
const TokenParam = z.object({ token_id: TokenId.openapi({ param: { name: 'token_id', in: 'path' } }) });
const IpMask = z.string().min(1).max(64);
const Expiry = z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' });
const TokenFields = {
  name: z.string().max(128, 'must be at most 128 characters'),
  rules: z.array(Rule).max(256, 'at most 256 rules'),
  ip_allow: z.array(IpMask).max(64, 'at most 64 entries'),
  expires_at: Expiry,
  ttl_seconds: z.number().int('must be a whole number').min(0, 'must be 0 (none) or more'),
};

/** API tokens (AuthzService token RPCs). A secret appears once: in the answer that made it. */
export function tokenRoutes(api: ApiApp, { peers }: AdminApiDeps): void {
  const { authz } = peers;

  api.openapi(
    createRoute({
      method: 'get', path: '/tokens', tags, summary: 'Tokens of an account (ListTokens)',
      request: { query: z.object({ account_id: AccountId.optional(), include_revoked: QueryBool.optional(), kind: TokenKindName.optional().openapi({ description: 'only tokens of this kind (on each page)' }), limit: Limit(1_000), cursor: Cursor }) },
      responses: { 200: ok(z.object({ tokens: z.array(Token), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await authz.listTokens({ accountId: q.account_id ?? caller.accountId, includeRevoked: q.include_revoked ?? false, pageSize: q.limit ?? 100, pageToken: q.cursor ?? '' }, caller.auth);
      const tokens = res.tokens.map(tokenJson).filter((t) => q.kind === undefined || t.kind === q.kind);
      return c.json({ tokens, next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/tokens', tags, summary: 'Create a token (CreateToken); the secret is shown once',
      request: {
        body: jsonBody(
          z.object({
            account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }),
            kind: TokenKindName,
            name: TokenFields.name.optional(),
            rules: TokenFields.rules.optional(),
            ip_allow: TokenFields.ip_allow.optional(),
            expires_at: TokenFields.expires_at.optional(),
            ttl_seconds: TokenFields.ttl_seconds.optional(),
            short_form: z.boolean().optional(),
          }),
        ),
      },
      responses: { 201: ok(TokenWithSecret, 'created'), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await authz.createToken(
        {
          accountId: b.account_id ?? caller.accountId,
          kind: tokenKinds[b.kind],
          name: b.name ?? '',
          rules: (b.rules ?? []).map(ruleToProto),
          ipAllow: b.ip_allow ?? [],
          ...(b.expires_at ? { expiresAt: timestampOf(b.expires_at) } : {}),
          ttlSeconds: BigInt(b.ttl_seconds ?? 0),
          shortForm: b.short_form ?? false,
        },
        caller.auth,
      );
      return c.json({ ...tokenJson(res.token!), secret: res.secret }, 201);
    },
  );
  api.openapi(
    createRoute({ method: 'get', path: '/tokens/{token_id}', tags, summary: 'One token (GetToken)', request: { params: TokenParam }, responses: { 200: ok(Token), ...problems } }),
    async (c) => {
      const res = await authz.getToken({ tokenId: c.req.valid('param').token_id }, c.get('caller').auth);
      return c.json(tokenJson(res.token!), 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'patch', path: '/tokens/{token_id}', tags, summary: "Replace a token's name, rules, IP allow-list, expiry or TTL (UpdateToken)",
      request: {
        params: TokenParam,
        body: jsonBody(
          z
            .object({ name: TokenFields.name.optional(), rules: TokenFields.rules.optional(), ip_allow: TokenFields.ip_allow.optional(), expires_at: TokenFields.expires_at.nullable().optional().openapi({ description: 'null: never' }), ttl_seconds: TokenFields.ttl_seconds.optional() })
            .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'name at least one of name, rules, ip_allow, expires_at, ttl_seconds', path: ['name'] }),
        ),
      },
      responses: { 200: ok(Token), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const mask = (['name', 'rules', 'ip_allow', 'expires_at', 'ttl_seconds'] as const).filter((k) => b[k] !== undefined);
      const res = await authz.updateToken(
        {
          tokenId: c.req.valid('param').token_id,
          updateMask: [...mask],
          name: b.name ?? '',
          rules: (b.rules ?? []).map(ruleToProto),
          ipAllow: b.ip_allow ?? [],
          ...(b.expires_at ? { expiresAt: timestampOf(b.expires_at) } : {}),
          ttlSeconds: BigInt(b.ttl_seconds ?? 0),
        },
        c.get('caller').auth,
      );
      return c.json(tokenJson(res.token!), 200);
    },
  );
  api.openapi(
    createRoute({ method: 'post', path: '/tokens/{token_id}/revoke', tags, summary: 'Revoke a token (RevokeToken); its clients are disconnected', request: { params: TokenParam }, responses: { 200: ok(Token), ...problems } }),
    async (c) => {
      const res = await authz.revokeToken({ tokenId: c.req.valid('param').token_id }, c.get('caller').auth);
      return c.json(tokenJson(res.token!), 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/tokens/{token_id}/rotate', tags, summary: 'New secret for a token (RotateToken); the old one stays valid for the grace period',
      request: { params: TokenParam, body: { required: false, content: { 'application/json': { schema: z.object({ grace_seconds: z.number().int('must be a whole number').min(0).max(30 * 86_400, 'must be at most 30 days').optional() }) } } } },
      responses: { 200: ok(TokenWithSecret), ...problems },
    }),
    async (c) => {
      const res = await authz.rotateToken({ tokenId: c.req.valid('param').token_id, graceSeconds: BigInt(c.req.valid('json')?.grace_seconds ?? 0) }, c.get('caller').auth);
      return c.json({ ...tokenJson(res.token!), secret: res.secret }, 200);
    },
  );
}
