import type { AccessReason } from '#libs/acl/acl-engine.ts';
import type { TokenUsability } from './token-record.ts';

/** Why identity refused a password (its LoginRefusal, and a suspended account). */
export const passwordRefusals = ['INVALID_CREDENTIALS', 'LOCKED_OUT', 'TWO_FACTOR_REQUIRED', 'TWO_FACTOR_INVALID', 'TWO_FACTOR_ENROLLMENT_REQUIRED', 'ACCOUNT_SUSPENDED'] as const;
export type PasswordRefusal = (typeof passwordRefusals)[number];

/** An identity JWT that did not verify (clients/jwks-cache.ts). */
export type JwtRefusal = 'JWT_INVALID' | 'JWT_EXPIRED' | 'JWT_UNKNOWN_KEY' | 'JWKS_UNAVAILABLE';

/** Why a credential was refused before any rule was looked at. */
export type AuthenticateRefusal =
  | 'TOKEN_UNKNOWN'
  | 'TOKEN_MALFORMED'
  | Extract<TokenUsability, { usable: false }>['reason']
  | 'CONNECT_DENIED'
  | 'ACCOUNT_UNKNOWN'
  | 'ACCOUNT_SUSPENDED'
  | 'CREDENTIAL_MISSING'
  | 'JWT_UNSUPPORTED'
  | JwtRefusal
  | 'OAUTH_CLIENT_UNBOUND'
  | 'OAUTH_GRANT_REVOKED'
  | PasswordRefusal;

/**
 * Every reason an authz decision carries — the closed list that the decision log, metrics and the
 * adapters' answers share: allowed, refused at authentication, refused by scope, role or kind,
 * or by the ACL engine.
 */
export type DecisionReason = 'ALLOWED' | AuthenticateRefusal | 'ACCOUNT_NOT_IN_SCOPE' | 'ROLE_NOT_ALLOWED' | 'KIND_NOT_ALLOWED' | AccessReason;

/** Identity's refusal as it comes over the wire: one of the known reasons, else INVALID_CREDENTIALS. */
export function passwordRefusalOf(wire: string): PasswordRefusal {
  return (passwordRefusals as readonly string[]).includes(wire) ? (wire as PasswordRefusal) : 'INVALID_CREDENTIALS';
}
