import { isIP } from 'node:net';
import { createRoute, z } from '@hono/zod-openapi';
import { AccountId, OAuthClient, OAuthClientId, OAuthClientTypeName, OAuthClientWithSecret, Role, Rule, SsoConnection, SsoConnectionId } from '../api-schemas.ts';
import { oauthClientJson, oauthClientTypes, ruleToProto, ssoConnectionJson } from '../proto-json.ts';
import type { AdminApiDeps, ApiApp } from '../admin-api.ts';
import { jsonBody, ok, problems } from './route-kit.ts';

const tags = ['oauth clients'];
const ssoTags = ['sso connections'];
const ClientParam = z.object({ client_id: OAuthClientId.openapi({ param: { name: 'client_id', in: 'path' } }) });
const ConnectionParam = z.object({ connection_id: SsoConnectionId.openapi({ param: { name: 'connection_id', in: 'path' } }) });
const ClientOut = z.object({ client: OAuthClient });
const Uri = z.string().min(1, 'is required').max(2048, 'must be at most 2048 characters');
const ClientFields = {
  name: z.string().min(1, 'is required').max(128, 'must be at most 128 characters'),
  redirect_uris: z.array(Uri).max(32, 'at most 32 URIs'),
  post_logout_redirect_uris: z.array(Uri).max(32, 'at most 32 URIs'),
  scopes: z.array(z.string().min(1).max(64)).max(32, 'at most 32 scopes'),
  first_party: z.boolean().openapi({ description: 'first-party clients skip the consent screen' }),
  acl_rules: z.array(Rule).max(256, 'at most 256 rules').openapi({ description: "binds the client's access tokens to these acl rules (empty: unbound)" }),
  id_token_signed_response_alg: z.enum(['EdDSA', 'ES256']).openapi({ description: 'EdDSA (default) or ES256' }),
};
const updatable = ['name', 'disabled', 'first_party', 'redirect_uris', 'post_logout_redirect_uris', 'scopes', 'acl_rules', 'id_token_signed_response_alg'] as const;

/**
 * OAuth 2.0 / OpenID Connect clients of identity's provider, an account's upstream SSO connections
 * (IdentityService client / SSO RPCs), and lifting a sign-in lockout (UnlockUser). A client secret
 * appears once: in the answer that made it. An SSO client secret goes in and never comes back.
 */
export function oauthRoutes(api: ApiApp, { peers }: AdminApiDeps): void {
  const { identity } = peers;

  api.openapi(
    createRoute({
      method: 'get', path: '/oauth-clients', tags, summary: "An account's OAuth clients (ListClients)",
      request: { query: z.object({ account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }) }) },
      responses: { 200: ok(z.object({ clients: z.array(OAuthClient) })), ...problems },
    }),
    async (c) => {
      const caller = c.get('caller');
      const res = await identity.listClients({ accountId: c.req.valid('query').account_id ?? caller.accountId }, caller.auth);
      return c.json({ clients: res.clients.map(oauthClientJson) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/oauth-clients', tags, summary: 'Register an OAuth client (CreateClient); a confidential client\'s secret is shown once',
      request: {
        body: jsonBody(
          z.object({
            account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }),
            name: ClientFields.name,
            type: OAuthClientTypeName,
            redirect_uris: ClientFields.redirect_uris.optional(),
            post_logout_redirect_uris: ClientFields.post_logout_redirect_uris.optional(),
            scopes: ClientFields.scopes.optional().openapi({ description: "empty: the type's defaults" }),
            first_party: ClientFields.first_party.optional(),
            acl_rules: ClientFields.acl_rules.optional(),
            id_token_signed_response_alg: ClientFields.id_token_signed_response_alg.optional(),
          }),
        ),
      },
      responses: { 201: ok(OAuthClientWithSecret, 'created'), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await identity.createClient(
        {
          accountId: b.account_id ?? caller.accountId,
          name: b.name,
          type: oauthClientTypes[b.type],
          redirectUris: b.redirect_uris ?? [],
          postLogoutRedirectUris: b.post_logout_redirect_uris ?? [],
          scopes: b.scopes ?? [],
          firstParty: b.first_party ?? false,
          aclRules: (b.acl_rules ?? []).map(ruleToProto),
          idTokenSignedResponseAlg: b.id_token_signed_response_alg ?? '',
        },
        caller.auth,
      );
      return c.json({ client: oauthClientJson(res.client!), client_secret: res.clientSecret || null }, 201);
    },
  );
  api.openapi(
    createRoute({ method: 'get', path: '/oauth-clients/{client_id}', tags, summary: 'One OAuth client (GetClient)', request: { params: ClientParam }, responses: { 200: ok(ClientOut), ...problems } }),
    async (c) => {
      const res = await identity.getClient({ clientId: c.req.valid('param').client_id }, c.get('caller').auth);
      return c.json({ client: oauthClientJson(res.client!) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'patch', path: '/oauth-clients/{client_id}', tags, summary: 'Change an OAuth client; a list given replaces the whole list, fields left out are unchanged (UpdateClient)',
      request: {
        params: ClientParam,
        body: jsonBody(
          z
            .object({
              name: ClientFields.name.optional(),
              disabled: z.boolean().optional(),
              first_party: ClientFields.first_party.optional(),
              redirect_uris: ClientFields.redirect_uris.optional(),
              post_logout_redirect_uris: ClientFields.post_logout_redirect_uris.optional(),
              scopes: ClientFields.scopes.optional(),
              acl_rules: ClientFields.acl_rules.optional().openapi({ description: 'replaces the bound rules; [] unbinds' }),
              id_token_signed_response_alg: ClientFields.id_token_signed_response_alg.optional(),
            })
            .refine((b) => updatable.some((k) => b[k] !== undefined), { message: `name at least one of ${updatable.join(', ')}`, path: ['name'] }),
        ),
      },
      responses: { 200: ok(ClientOut), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const res = await identity.updateClient(
        {
          clientId: c.req.valid('param').client_id,
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.disabled !== undefined ? { disabled: b.disabled } : {}),
          ...(b.first_party !== undefined ? { firstParty: b.first_party } : {}),
          ...(b.redirect_uris ? { redirectUris: { values: b.redirect_uris } } : {}),
          ...(b.post_logout_redirect_uris ? { postLogoutRedirectUris: { values: b.post_logout_redirect_uris } } : {}),
          ...(b.scopes ? { scopes: { values: b.scopes } } : {}),
          ...(b.acl_rules ? { aclRules: { rules: b.acl_rules.map(ruleToProto) } } : {}),
          ...(b.id_token_signed_response_alg !== undefined ? { idTokenSignedResponseAlg: b.id_token_signed_response_alg } : {}),
        },
        c.get('caller').auth,
      );
      return c.json({ client: oauthClientJson(res.client!) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/oauth-clients/{client_id}/rotate-secret', tags, summary: 'New secret for a confidential client, shown once; the old one stops working now (RotateClientSecret)',
      request: { params: ClientParam },
      responses: { 200: ok(OAuthClientWithSecret), ...problems },
    }),
    async (c) => {
      const res = await identity.rotateClientSecret({ clientId: c.req.valid('param').client_id }, c.get('caller').auth);
      return c.json({ client: oauthClientJson(res.client!), client_secret: res.clientSecret }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'delete', path: '/oauth-clients/{client_id}', tags, summary: 'Delete an OAuth client; its grants and tokens are revoked (DeleteClient)',
      request: { params: ClientParam },
      responses: { 200: ok(z.object({ client_id: z.string(), deleted: z.literal(true) })), ...problems },
    }),
    async (c) => {
      const { client_id } = c.req.valid('param');
      await identity.deleteClient({ clientId: client_id }, c.get('caller').auth);
      return c.json({ client_id, deleted: true as const }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/sso-connections', tags: ssoTags, summary: "An account's upstream SSO connections (ListSsoConnections)",
      request: { query: z.object({ account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }) }) },
      responses: { 200: ok(z.object({ connections: z.array(SsoConnection) })), ...problems },
    }),
    async (c) => {
      const caller = c.get('caller');
      const res = await identity.listSsoConnections({ accountId: c.req.valid('query').account_id ?? caller.accountId }, caller.auth);
      return c.json({ connections: res.connections.map(ssoConnectionJson) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/sso-connections', tags: ssoTags, summary: 'Connect an upstream OpenID Connect provider or SAML IdP (CreateSsoConnection); the client secret is stored sealed and never returned',
      request: {
        body: jsonBody(
          z.object({
            account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }),
            kind: z.enum(['oidc', 'saml']).optional().openapi({ description: 'oidc when absent' }),
            name: z.string().min(1, 'is required').max(128, 'must be at most 128 characters').openapi({ description: 'shown on the sign-in page' }),
            issuer: z.string().min(1, 'is required').max(2048, 'must be at most 2048 characters').openapi({ description: "OIDC: the issuer URL; SAML: the IdP's entity ID" }),
            client_id: z.string().min(1).max(255, 'must be at most 255 characters').optional().openapi({ description: 'OIDC only' }),
            client_secret: z.string().min(1).max(512, 'must be at most 512 characters').optional().openapi({ description: 'OIDC only; never returned' }),
            saml_entry_point: Uri.optional().openapi({ description: "SAML: the IdP's single sign-on URL" }),
            saml_idp_certificate: z.string().min(1).max(16_384, 'must be at most 16384 characters').optional().openapi({ description: "SAML: the IdP's signing certificate (PEM)" }),
            default_role: Role.exclude(['owner']).optional().openapi({ description: 'role of a user created on first sign-in (jit); member when absent' }),
            provisioning: z.enum(['invited', 'jit']).optional().openapi({ description: 'invited (default): existing members only; jit: unknown people are created with default_role' }),
          }),
        ),
      },
      responses: {
        201: ok(z.object({ connection: SsoConnection, redirect_uri: z.string().openapi({ description: 'OIDC: register it with the provider; SAML: the assertion consumer service URL' }), saml_sp_entity_id: z.string().nullable() }), 'created'),
        ...problems,
      },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await identity.createSsoConnection(
        {
          accountId: b.account_id ?? caller.accountId,
          kind: b.kind ?? '',
          name: b.name,
          issuer: b.issuer,
          clientId: b.client_id ?? '',
          clientSecret: b.client_secret ?? '',
          samlEntryPoint: b.saml_entry_point ?? '',
          samlIdpCertificate: b.saml_idp_certificate ?? '',
          defaultRole: b.default_role ?? '',
          provisioning: b.provisioning ?? '',
        },
        caller.auth,
      );
      return c.json({ connection: ssoConnectionJson(res.connection!), redirect_uri: res.redirectUri, saml_sp_entity_id: res.samlSpEntityId || null }, 201);
    },
  );
  api.openapi(
    createRoute({
      method: 'delete', path: '/sso-connections/{connection_id}', tags: ssoTags, summary: 'Delete an SSO connection (DeleteSsoConnection)',
      request: { params: ConnectionParam },
      responses: { 200: ok(z.object({ id: z.string(), deleted: z.literal(true) })), ...problems },
    }),
    async (c) => {
      const { connection_id } = c.req.valid('param');
      await identity.deleteSsoConnection({ connectionId: connection_id }, c.get('caller').auth);
      return c.json({ id: connection_id, deleted: true as const }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post', path: '/users/{username}/unlock', tags: ['users'], summary: "Lift a user's sign-in lockouts: from one address, or all of them (UnlockUser)",
      request: {
        params: z.object({ username: z.string().min(1, 'is required').max(128, 'must be at most 128 characters').openapi({ param: { name: 'username', in: 'path' } }) }),
        body: { required: false, content: { 'application/json': { schema: z.object({ address: z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address').optional().openapi({ description: 'only the lockout from this client address; every lockout when absent' }) }) } } },
      },
      responses: { 200: ok(z.object({ username: z.string(), address: z.string().nullable(), lifted: z.number().int().openapi({ description: 'lockouts that were running and are lifted' }) })), ...problems },
    }),
    async (c) => {
      const { username } = c.req.valid('param');
      const address = c.req.valid('json')?.address;
      const res = await identity.unlockUser({ username, address: address ?? '' }, c.get('caller').auth);
      return c.json({ username, address: address ?? null, lifted: res.lifted }, 200);
    },
  );
}
