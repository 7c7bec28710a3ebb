/**
 * The OpenID Provider metadata served at `/.well-known/openid-configuration` (OpenID Connect
 * Discovery 1.0 §3), trimmed to what Tollgate does: it issues EdDSA-signed tokens from a password
 * (+ TOTP) login and publishes its keys. It has no browser authorization endpoint, so
 * `authorization_endpoint` is omitted (the spec requires it only of providers that have one in use).
 */
import { invalidArgument } from './errors.ts';

export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  token_endpoint?: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  grant_types_supported: string[];
  claims_supported: string[];
}

/**
 * `issuer` must be an https URL without query or fragment (§3); plain http is accepted only for
 * localhost, which is what dev runs on.
 */
export function buildDiscoveryDocument(options: { issuer: string; jwksUri?: string; tokenEndpoint?: string }): DiscoveryDocument {
  const issuer = options.issuer.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw invalidArgument('issuer', 'must be an absolute URL');
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) throw invalidArgument('issuer', 'must use https (http only for localhost)');
  if (url.search !== '' || url.hash !== '') throw invalidArgument('issuer', 'must not have a query or fragment');
  return {
    issuer,
    jwks_uri: options.jwksUri ?? `${issuer}/.well-known/jwks.json`,
    ...(options.tokenEndpoint ? { token_endpoint: options.tokenEndpoint } : {}),
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['EdDSA'],
    token_endpoint_auth_methods_supported: ['none'],
    grant_types_supported: ['password', 'refresh_token'],
    claims_supported: ['sub', 'iss', 'aud', 'iat', 'exp', 'jti', 'acc', 'roles'],
  };
}
