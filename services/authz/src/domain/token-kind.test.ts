import { describe, expect, it } from 'vitest';
import { type AccountScope, decideByKind, isSuperuserKind, isTokenKind, type KindOperation, type TokenKind } from './token-kind.ts';

describe('decideByKind', () => {
  const cases: [TokenKind, KindOperation, AccountScope, string][] = [
    ['master', 'access', 'own', 'ALLOWED'],
    ['master', 'manage_tokens', 'own', 'ALLOWED'],
    ['master', 'manage_subaccounts', 'own', 'ALLOWED'],
    ['master', 'access', 'subaccount', 'ALLOWED'],
    ['master', 'manage_tokens', 'subaccount', 'ALLOWED'],
    ['master', 'access', 'other', 'OUTSIDE_ACCOUNT'],
    ['master', 'manage_tokens', 'other', 'OUTSIDE_ACCOUNT'],
    ['standard', 'access', 'own', 'ALLOWED'],
    ['standard', 'manage_tokens', 'own', 'KIND_FORBIDS'],
    ['standard', 'manage_subaccounts', 'own', 'KIND_FORBIDS'],
    ['standard', 'access', 'subaccount', 'OUTSIDE_ACCOUNT'],
    ['standard', 'access', 'other', 'OUTSIDE_ACCOUNT'],
    ['acl', 'access', 'own', 'ACL_RULES'],
    ['acl', 'manage_tokens', 'own', 'KIND_FORBIDS'],
    ['acl', 'manage_subaccounts', 'own', 'KIND_FORBIDS'],
    ['acl', 'access', 'subaccount', 'OUTSIDE_ACCOUNT'],
    ['acl', 'access', 'other', 'OUTSIDE_ACCOUNT'],
  ];
  it.each(cases)('%s %s %s → %s', (kind, op, scope, reason) => expect(decideByKind(kind, op, scope).reason).toBe(reason));

  it('superuser kinds and the kind guard', () => {
    expect([isSuperuserKind('master'), isSuperuserKind('standard'), isSuperuserKind('acl')]).toEqual([true, true, false]);
    expect([isTokenKind('acl'), isTokenKind('root'), isTokenKind(1)]).toEqual([true, false, false]);
  });
});
