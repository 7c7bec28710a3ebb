import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import { clientMetadata, providerScopes, type OAuthClient } from '../domain/oauth-client.ts';
import type { Clock, IdentityStore } from '../domain/ports.ts';
import { rolesForToken } from '../domain/roles.ts';
import { PostgresOidcAdapter } from '../store/postgres-oauth-store.ts';
import type { Db } from '#libs/db/index.ts';
import { createDevicePollGuard } from './device-poll-guard.ts';
import { createGrantApproval } from './grant-approval.ts';
import { grantRef } from './grant-revocations.ts';
import { standardGrantErrorCodes } from './grant-error-codes.ts';
import { allowScriptHashes, deviceConfirmPage, deviceInputPage, deviceSuccessPage, errorPage, logoutPage, postLogoutPage } from './interaction-pages.ts';

/** The resource indicator (RFC 8707) of the Tollgate mesh; its JWT access tokens carry `aud: tollgate`. */
export const TOLLGATE_RESOURCE = 'urn:tollgate';
export const OAUTH_PATH = '/oauth';

export const oauthRoutes = {
  authorization: `${OAUTH_PATH}/authorize`,
  token: `${OAUTH_PATH}/token`,
  userinfo: `${OAUTH_PATH}/userinfo`,
  end_session: `${OAUTH_PATH}/logout`,
  introspection: `${OAUTH_PATH}/introspect`,
  revocation: `${OAUTH_PATH}/revoke`,
  device_authorization: `${OAUTH_PATH}/device/auth`,
  code_verification: `${OAUTH_PATH}/device`,
  jwks: '/.well-known/jwks.json',
} as const;

export interface OidcProviderOptions {
  issuer: string;
  db: Db;
  clock: Clock;
  store: IdentityStore;
  clients: { get(id: string): Promise<OAuthClient | undefined> };
  /** The active signing keys (private JWKs: EdDSA, then ES256) from identity's key rings. */
  signingKeys: JWK[];
  secretKey: Uint8Array;
  /** Audience of Tollgate access tokens (the same as identity's own). */
  audience: string;
  accessTokenTtlSeconds: number;
  /** A grant ended (a revoked or reused refresh token, a replayed code, a logout): its access tokens must end too. */
  grantRevoked?: (grantId: string) => Promise<void>;
  /** Where a pending interaction (login, TOTP, consent) is rendered. */
  interactionPath: (uid: string) => string;
}

/** A key for one purpose, derived from the mesh secret (HKDF-SHA256), so no two uses share a key. */
export function deriveKey(secretKey: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, 'tollgate-oauth', purpose, 32));
}

export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * oidc-provider configured for Tollgate: clients from identity's own table (secret stored hashed),
 * its artefacts in Postgres, JWT access tokens signed by identity's EdDSA key ring, and every page
 * rendered without inline script or style. Only glue lives here; the protocol is the library's.
 */
export function createOidcProvider(options: OidcProviderOptions): Provider {
  const cookieKey = deriveKey(options.secretKey, 'cookies').toString('base64url');
  const adapters = new Map<string, PostgresOidcAdapter>();
  const approval = createGrantApproval({ clients: options.clients, store: options.store });
  const configuration: Configuration = {
    adapter: (name: string) => {
      if (name === 'Client') return clientAdapter(options.clients) as never;
      let adapter = adapters.get(name);
      // oidc-provider destroys a Grant only when it revokes it (helpers/revoke.js), with every token issued from it.
      if (!adapter) adapters.set(name, (adapter = new PostgresOidcAdapter(options.db, name, options.clock, name === 'Grant' ? options.grantRevoked : undefined)));
      return adapter as never;
    },
    clients: [],
    jwks: { keys: options.signingKeys as never },
    cookies: {
      keys: [cookieKey],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: { ...oauthRoutes },
    scopes: [...providerScopes],
    // `amr` in ID tokens: a relying party (another Tollgate among them) learns whether the person
    // used a second factor here. `email_verified` is false: Tollgate does not verify addresses.
    claims: { openid: ['sub', 'amr'], profile: ['preferred_username', 'acc', 'roles'], email: ['email', 'email_verified'] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    // Browsers may call the token endpoints only from an http(s) origin the client redirects to
    // (a private-use scheme's origin is "null", which sandboxed frames also send).
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => {
        const url = new URL(uri);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === origin;
      }),
    extraClientMetadata: { properties: ['tollgate_account_id', 'tollgate_first_party'] },
    // PKCE (the library knows only S256) for every authorization code, confidential clients too (RFC 9700 §2.1.1).
    pkce: { required: () => true },
    responseTypes: ['code'],
    // EdDSA everywhere; ES256 for ID tokens of clients registered with it (libraries without Ed25519).
    enabledJWA: {
      idTokenSigningAlgValues: ['EdDSA', 'ES256'],
      userinfoSigningAlgValues: ['EdDSA', 'ES256'],
      introspectionSigningAlgValues: ['EdDSA'],
      authorizationSigningAlgValues: ['EdDSA'],
      requestObjectSigningAlgValues: ['EdDSA'],
    },
    clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'EdDSA', token_endpoint_auth_method: 'client_secret_basic' },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds,
      ClientCredentials: options.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3_600,
      Interaction: 3_600,
      Session: 14 * 24 * 3_600,
      Grant: 14 * 24 * 3_600,
      RefreshToken: 14 * 24 * 3_600,
    },
    // Every use rotates the refresh token; the library revokes the whole grant when a rotated one comes back.
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 7662 §4: a client learns about its own tokens; a confidential client (a resource
      // server) also about those of clients of its own account. Nobody else's.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none' || !token.clientId) return false;
          const holder = await options.clients.get(token.clientId);
          return holder !== undefined && holder.accountId === (client as unknown as { tollgate_account_id?: string })['tollgate_account_id'];
        },
      },
      // RFC 7009 §2.1: only the client the token was issued to may revoke it (others: "not revoked", no error detail).
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = deviceInputPage(form, err ? deviceError(err) : undefined);
        },
        userCodeConfirmSource: async (ctx, form, client, _info, userCode) => {
          ctx.body = deviceConfirmPage(form, client.clientName ?? client.clientId, userCode);
        },
        successSource: async (ctx) => {
          ctx.body = deviceSuccessPage(ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId ?? '');
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = logoutPage(form);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = postLogoutPage();
        },
      },
      resourceIndicators: {
        enabled: true,
        // A token asked for with scope `tollgate` is for the mesh even without a resource parameter.
        defaultResource: async (ctx, _client, oneOf) => oneOf ?? (hasTollgateScope(ctx) ? TOLLGATE_RESOURCE : undefined),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== TOLLGATE_RESOURCE) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          return { scope: 'tollgate', audience: options.audience, accessTokenFormat: 'jwt', accessTokenTTL: options.accessTokenTtlSeconds, jwt: { sign: { alg: 'EdDSA' } } };
        },
      },
    },
    // Tollgate access tokens carry the account and roles (users) or the client's account (clients).
    extraTokenClaims: async (_ctx, token) => {
      if (!token.resourceServer || token.resourceServer.audience !== options.audience) return undefined;
      const client = token.clientId ? await options.clients.get(token.clientId) : undefined;
      if (!client) return undefined;
      // A client bound to acl rules: its tokens are its acl token's credential in authz (`tok`).
      const bound = client.aclTokenId ? { tok: client.aclTokenId } : {};
      if (token.kind === 'ClientCredentials') return { acc: client.accountId, roles: [], ...bound };
      // A token from a grant (a refresh-token family) names it: revoking the grant ends exactly these tokens in authz.
      const grantId = (token as { grantId?: string }).grantId;
      const granted = grantId ? { gid: grantRef(grantId) } : {};
      const accountId = (token as { accountId?: string }).accountId;
      if (client.aclTokenId) {
        // The person who approved the grant must (still) be of the client's account: the interaction
        // refuses anyone else, and a refresh after they left the account is refused here.
        if (accountId && !(await approval.allowed(client, accountId))) throw new errors.InvalidGrant('the person who approved this grant may no longer approve grants of the client\'s account (not a member, or a viewer)');
        return { acc: client.accountId, roles: [], ...bound, ...granted };
      }
      if (!accountId) return undefined;
      const user = await options.store.getUser(accountId);
      const acc = user?.memberships[0]?.accountId;
      if (!user || !acc) return undefined;
      const path = (await options.store.accountPath(acc)).map((a) => a.id);
      return { acc, roles: rolesForToken(user.memberships, path), ...granted };
    },
    findAccount: async (_ctx, sub) => {
      const user = await options.store.getUser(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          const acc = user.memberships[0]?.accountId;
          return { sub, preferred_username: user.username, ...(user.email ? { email: user.email, email_verified: false } : {}), ...(acc ? { acc, roles: rolesForToken(user.memberships, (await options.store.accountPath(acc)).map((a) => a.id)) } : {}) };
        },
      };
    },
    interactions: { url: (_ctx, interaction) => options.interactionPath(interaction.uid) },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error ?? 'error'), typeof out.error_description === 'string' ? out.error_description : undefined);
    },
    discovery: { service_documentation: undefined },
  };
  const provider = new Provider(options.issuer, configuration);
  // An https issuer is served by identity's plain-HTTP port behind a TLS-terminating proxy: trust its
  // X-Forwarded-Proto/Host so cookies are Secure and URLs are https. Over plain http they are ignored.
  provider.proxy = new URL(options.issuer).protocol === 'https:';
  provider.use(createDevicePollGuard(options.clock, 600_000) as never);
  provider.use(standardGrantErrorCodes as never);
  provider.use(allowScriptHashes as never);
  // Client secrets are stored as SHA-256: compare hashes (constant time) instead of the plain secret.
  provider.Client.prototype.compareClientSecret = function compareHashed(this: { clientSecret?: string }, actual: string): boolean {
    const stored = this.clientSecret;
    if (typeof stored !== 'string' || typeof actual !== 'string' || actual.length === 0 || actual.length > 512) return false;
    const presented = Buffer.from(hashClientSecret(actual), 'hex');
    const expected = Buffer.from(stored, 'hex');
    return expected.length === presented.length && timingSafeEqual(presented, expected);
  } as never;
  return provider;
}

/** What the person is told when entering or approving a user code failed. */
function deviceError(err: Error & { userCode?: string }): string {
  if (err.name === 'NoCodeError' || err.userCode) return 'That code is not valid. Try again.';
  // Refused at the consent step (by the person, or because they are not of a bound client's
  // account): the library re-renders the input page with an AbortedError caused by access_denied.
  const cause = (err.name === 'AbortedError' ? err.cause : err) as { error?: string; error_description?: string } | undefined;
  if (cause?.error === 'access_denied') return `The device was not connected: ${cause.error_description ?? 'access denied'}.`;
  return 'The request could not be completed.';
}

function hasTollgateScope(ctx: KoaContextWithOIDC): boolean {
  const scope = ctx.oidc.params?.['scope'];
  return typeof scope === 'string' && scope.split(' ').includes('tollgate');
}

/** Clients are not oidc-provider artefacts: they come from `identity.oauth_clients`, read-only here. */
function clientAdapter(clients: OidcProviderOptions['clients']) {
  const readOnly = async () => {
    throw new Error('OAuth clients are managed through IdentityService, not oidc-provider');
  };
  return {
    async find(id: string) {
      const client = await clients.get(id);
      return client && !client.disabled ? clientMetadata(client) : undefined;
    },
    upsert: readOnly,
    consume: readOnly,
    destroy: readOnly,
    revokeByGrantId: readOnly,
    findByUid: readOnly,
    findByUserCode: readOnly,
  };
}
