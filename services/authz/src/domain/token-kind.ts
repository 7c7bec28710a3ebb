/**
 * What a token's kind alone permits, before any ACL rule is read (flespi semantics):
 * - master: everything in its account and its subaccounts; may manage tokens and subaccounts.
 * - standard: everything in its own account except managing tokens and subaccounts.
 * - acl: only what its rules allow (the caller then runs the ACL engine), never management.
 * A subaccount is addressed only through an explicit account selector on the request
 * (`scope: 'subaccount'`); without one the scope is the token's own account. Another
 * account's tree is never reachable.
 */
export const tokenKinds = ['master', 'standard', 'acl'] as const;
export type TokenKind = (typeof tokenKinds)[number];

/** `access` = connect/publish/subscribe/read/write/admin on resources. */
export type KindOperation = 'access' | 'manage_tokens' | 'manage_subaccounts';
/** Where the target lives relative to the token's account (resolved by the caller from the account tree). */
export type AccountScope = 'own' | 'subaccount' | 'other';

export type KindDecision =
  | { readonly outcome: 'allow'; readonly reason: 'ALLOWED' }
  | { readonly outcome: 'deny'; readonly reason: 'KIND_FORBIDS' | 'OUTSIDE_ACCOUNT' }
  | { readonly outcome: 'check_rules'; readonly reason: 'ACL_RULES' };

const ALLOW: KindDecision = Object.freeze({ outcome: 'allow', reason: 'ALLOWED' });
const KIND_FORBIDS: KindDecision = Object.freeze({ outcome: 'deny', reason: 'KIND_FORBIDS' });
const OUTSIDE_ACCOUNT: KindDecision = Object.freeze({ outcome: 'deny', reason: 'OUTSIDE_ACCOUNT' });
const CHECK_RULES: KindDecision = Object.freeze({ outcome: 'check_rules', reason: 'ACL_RULES' });

export function decideByKind(kind: TokenKind, operation: KindOperation, scope: AccountScope): KindDecision {
  if (scope === 'other') return OUTSIDE_ACCOUNT;
  if (kind === 'master') return ALLOW;
  if (scope === 'subaccount') return OUTSIDE_ACCOUNT;
  if (operation !== 'access') return KIND_FORBIDS;
  return kind === 'standard' ? ALLOW : CHECK_RULES;
}

/** Broker superuser within the token's account (no per-topic checks): master and standard. */
export function isSuperuserKind(kind: TokenKind): boolean {
  return kind !== 'acl';
}

export function isTokenKind(value: unknown): value is TokenKind {
  return typeof value === 'string' && (tokenKinds as readonly string[]).includes(value);
}
