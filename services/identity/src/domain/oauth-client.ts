import { invalidArgument } from '#libs/errors/index.ts';
import { mayPerform } from '#libs/policy/role-policy.ts';
import { effectiveRole, type Membership } from './roles.ts';

/**
 * OAuth clients registered with identity's provider, and what each type may do. The type fixes
 * the grants, whether the client holds a secret, and the redirect-URI rules:
 *
 * | type    | grants                                   | secret | redirect URIs                         |
 * |---------|------------------------------------------|--------|---------------------------------------|
 * | web     | authorization_code (+ refresh_token)     | yes    | https (http only on loopback)         |
 * | spa     | authorization_code + PKCE (+ refresh)    | no     | https (http only on loopback)         |
 * | native  | authorization_code + PKCE (+ refresh)    | no     | loopback http or a private-use scheme |
 * | service | client_credentials                       | yes    | none                                  |
 * | device  | device_code (RFC 8628) (+ refresh)       | no     | none                                  |
 */
export const oauthClientTypes = ['web', 'spa', 'native', 'service', 'device'] as const;
export type OAuthClientType = (typeof oauthClientTypes)[number];

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Scopes the provider knows; `tollgate` asks for an access token that is a Tollgate credential. */
export const providerScopes = ['openid', 'offline_access', 'profile', 'email', 'tollgate'] as const;
const defaultUserScopes = ['openid', 'offline_access', 'profile', 'email', 'tollgate'];
const defaultServiceScopes = ['tollgate'];

/** An authz acl rule as identity keeps it (authz validates it when the token is written). */
export interface AclRule {
  effect: 'allow' | 'deny';
  actions: string[];
  resources: string[];
}

/** Only machine clients are bound to rules: their tokens are credentials of a device or service, not of a person. */
export function canBindRules(type: OAuthClientType): boolean {
  return type === 'service' || type === 'device';
}

/**
 * Who may approve a grant of a client (a device's user code, a consent): the tokens of a client
 * bound to acl rules are its account's credential — approving one puts a device on the account's
 * data plane — so only a person whose role on that account or an ancestor of it
 * (`clientAccountPath`, root first, down to the client's account) may `write` there (the role
 * table, libs/policy: owner, admin, member; not viewer) may approve them. An unbound client's
 * tokens are the person's own credential: anyone may sign in to it.
 */
export function mayApproveGrant(client: Pick<OAuthClient, 'aclTokenId'>, approverMemberships: readonly Membership[], clientAccountPath: readonly string[]): boolean {
  if (client.aclTokenId === null) return true;
  const effective = effectiveRole(approverMemberships, clientAccountPath);
  return effective !== undefined && mayPerform(effective.role, 'write');
}

export const idTokenAlgs = ['EdDSA', 'ES256'] as const;
export type IdTokenAlg = (typeof idTokenAlgs)[number];

export function parseIdTokenAlg(value: string, field = 'id_token_signed_response_alg'): IdTokenAlg {
  if (value === '') return 'EdDSA';
  if (!(idTokenAlgs as readonly string[]).includes(value)) throw invalidArgument(field, `must be ${idTokenAlgs.join(' or ')}`);
  return value as IdTokenAlg;
}

export interface OAuthClient {
  id: string;
  accountId: string;
  name: string;
  type: OAuthClientType;
  /** SHA-256 (hex) of the secret, for confidential types; never the secret itself. */
  secretHash: string | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scopes: string[];
  /** acl rules bound to the client's tokens (enforced by authz through `aclTokenId`); null: unbound. */
  aclRules: AclRule[] | null;
  /** The authz acl token carrying `aclRules` while the client is enabled. */
  aclTokenId: string | null;
  /** First-party clients skip the consent screen. */
  firstParty: boolean;
  /** How its ID tokens are signed: EdDSA, or ES256 for libraries without Ed25519. */
  idTokenAlg: IdTokenAlg;
  disabled: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export function parseClientType(value: string, field = 'type'): OAuthClientType {
  if (!(oauthClientTypes as readonly string[]).includes(value)) throw invalidArgument(field, `must be one of ${oauthClientTypes.join(', ')}`);
  return value as OAuthClientType;
}

export function isConfidential(type: OAuthClientType): boolean {
  return type === 'web' || type === 'service';
}

export function usesRedirects(type: OAuthClientType): boolean {
  return type === 'web' || type === 'spa' || type === 'native';
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_URIS = 20;

/**
 * One redirect URI, checked the way it will be matched: exactly (RFC 9700 §4.1.3), so no
 * wildcards, no fragment (RFC 6749 §3.1.2), https except on loopback; native apps may use a
 * private-use scheme named after a domain they own (RFC 8252 §7.1, e.g. `com.example.app:/cb`).
 */
export function validateRedirectUri(type: OAuthClientType, value: string, field: string): string {
  if (value.length > 2048) throw invalidArgument(field, 'must be at most 2048 characters');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(field, 'must be an absolute URI');
  }
  if (url.hash !== '' || value.includes('#')) throw invalidArgument(field, 'must not have a fragment');
  if (value.includes('*')) throw invalidArgument(field, 'must not contain wildcards: redirect URIs are matched exactly');
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol === 'https:') {
    if (type === 'native' && !loopback) throw invalidArgument(field, 'native apps redirect to loopback http or a private-use scheme (RFC 8252)');
    return value;
  }
  if (url.protocol === 'http:') {
    if (!loopback) throw invalidArgument(field, 'must use https (http only for localhost / 127.0.0.1 / [::1])');
    return value;
  }
  if (type === 'native' && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return value;
  throw invalidArgument(field, type === 'native' ? 'must be loopback http, https, or a private-use scheme like com.example.app:/callback' : 'must use https');
}

export interface ClientSettingsInput {
  type: OAuthClientType;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scopes: string[];
}

/** Validates what a client create/update asks for; returns it normalised (scopes defaulted by type). */
export function validateClientSettings(input: ClientSettingsInput): ClientSettingsInput {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) throw invalidArgument('name', 'must be 1-100 characters');
  if (input.redirectUris.length > MAX_URIS) throw invalidArgument('redirect_uris', `at most ${MAX_URIS}`);
  if (input.postLogoutRedirectUris.length > MAX_URIS) throw invalidArgument('post_logout_redirect_uris', `at most ${MAX_URIS}`);
  if (usesRedirects(input.type)) {
    if (input.redirectUris.length === 0) throw invalidArgument('redirect_uris', `a ${input.type} client needs at least one redirect URI`);
  } else if (input.redirectUris.length > 0 || input.postLogoutRedirectUris.length > 0) {
    throw invalidArgument('redirect_uris', `a ${input.type} client does not redirect`);
  }
  const redirectUris = input.redirectUris.map((uri, i) => validateRedirectUri(input.type, uri, `redirect_uris[${i}]`));
  const postLogoutRedirectUris = input.postLogoutRedirectUris.map((uri, i) => validateRedirectUri(input.type, uri, `post_logout_redirect_uris[${i}]`));
  const allowed: readonly string[] = input.type === 'service' ? defaultServiceScopes : providerScopes;
  input.scopes.forEach((scope, i) => {
    if (!allowed.includes(scope)) throw invalidArgument(`scopes[${i}]`, `must be one of ${allowed.join(', ')} for a ${input.type} client`);
  });
  const scopes = input.scopes.length > 0 ? [...new Set(input.scopes)] : input.type === 'service' ? defaultServiceScopes : defaultUserScopes;
  return { type: input.type, name, redirectUris: [...new Set(redirectUris)], postLogoutRedirectUris: [...new Set(postLogoutRedirectUris)], scopes };
}

/** The oidc-provider client metadata (RFC 7591 names) a registered client stands for. */
export function clientMetadata(client: OAuthClient): Record<string, unknown> {
  const base = {
    client_id: client.id,
    client_name: client.name,
    scope: client.scopes.join(' '),
    tollgate_account_id: client.accountId,
    tollgate_first_party: client.firstParty,
    id_token_signed_response_alg: client.idTokenAlg,
  };
  const refresh = client.scopes.includes('offline_access') ? ['refresh_token'] : [];
  switch (client.type) {
    case 'web':
      return { ...base, client_secret: client.secretHash, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', ...refresh], response_types: ['code'], redirect_uris: client.redirectUris, post_logout_redirect_uris: client.postLogoutRedirectUris, application_type: 'web' };
    case 'spa':
      return { ...base, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', ...refresh], response_types: ['code'], redirect_uris: client.redirectUris, post_logout_redirect_uris: client.postLogoutRedirectUris, application_type: 'web' };
    case 'native':
      return { ...base, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', ...refresh], response_types: ['code'], redirect_uris: client.redirectUris, post_logout_redirect_uris: client.postLogoutRedirectUris, application_type: 'native' };
    case 'service':
      return { ...base, client_secret: client.secretHash, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
    case 'device':
      return { ...base, token_endpoint_auth_method: 'none', grant_types: [DEVICE_CODE_GRANT, ...refresh], response_types: [], redirect_uris: [] };
  }
}
