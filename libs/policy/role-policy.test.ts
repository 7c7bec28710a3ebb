import { describe, expect, it } from 'vitest';
import { actorCovers, mayAssignRole, mayIssueToken, mayPerform, operationOfAction, operations, rolePolicy, type CredentialKind, type Operation, type Role } from './role-policy.ts';

// The table as the root README states it, written out cell by cell: a change to the policy must
// change this test and the README together.
const Y = true;
const N = false;
const expected: Record<Operation, Record<Role | CredentialKind, boolean>> = {
  read: { owner: Y, admin: Y, member: Y, viewer: Y, master: Y, standard: Y, acl: N, service: Y },
  write: { owner: Y, admin: Y, member: Y, viewer: N, master: Y, standard: Y, acl: N, service: Y },
  manage_tokens: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: N, acl: N, service: Y },
  manage_users: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: Y, acl: N, service: Y },
  manage_subaccounts: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: N, acl: N, service: Y },
  manage_limits: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: Y, acl: N, service: Y },
  suspend: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: N, acl: N, service: Y },
  audit_read: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: Y, acl: N, service: Y },
  kick: { owner: Y, admin: Y, member: N, viewer: N, master: Y, standard: Y, acl: N, service: Y },
  manage_owners: { owner: Y, admin: N, member: N, viewer: N, master: Y, standard: N, acl: N, service: Y },
};

describe('role table', () => {
  const cells = operations.flatMap((op) => (Object.keys(rolePolicy) as (Role | CredentialKind)[]).map((who) => [op, who] as const));
  it.each(cells)('%s by %s', (op, who) => {
    expect(mayPerform(who, op)).toBe(expected[op][who]);
  });

  it('covers every operation', () => {
    expect(Object.keys(expected).sort()).toEqual([...operations].sort());
  });
});

describe('mayAssignRole: nobody hands out or takes away more than they hold', () => {
  const user = (role: Role) => ({ kind: 'user' as const, role });
  it.each<[string, Parameters<typeof mayAssignRole>[0], Role | null, Role | null, true | string]>([
    ['owner grants owner', user('owner'), null, 'owner', true],
    ['owner demotes an owner', user('owner'), 'owner', 'admin', true],
    ['admin adds a member', user('admin'), null, 'member', true],
    ['admin grants admin', user('admin'), 'member', 'admin', true],
    ['admin removes a viewer', user('admin'), 'viewer', null, true],
    ['admin may not grant owner', user('admin'), 'admin', 'owner', 'OWNER_REQUIRED'],
    ['admin may not demote an owner', user('admin'), 'owner', 'member', 'OWNER_REQUIRED'],
    ['admin may not remove an owner', user('admin'), 'owner', null, 'OWNER_REQUIRED'],
    ['member may not add users', user('member'), null, 'viewer', 'INSUFFICIENT_PRIVILEGE'],
    ['viewer may not add users', user('viewer'), null, 'viewer', 'INSUFFICIENT_PRIVILEGE'],
    ['a user without a role may not', { kind: 'user', role: undefined }, null, 'viewer', 'INSUFFICIENT_PRIVILEGE'],
    ['master grants owner', { kind: 'master' }, null, 'owner', true],
    ['standard adds a member', { kind: 'standard' }, null, 'member', true],
    ['standard may not make an admin (admins manage tokens)', { kind: 'standard' }, 'member', 'admin', 'INSUFFICIENT_PRIVILEGE'],
    ['standard may not touch an owner', { kind: 'standard' }, 'owner', null, 'OWNER_REQUIRED'],
    ['acl may not', { kind: 'acl' }, null, 'viewer', 'INSUFFICIENT_PRIVILEGE'],
    ['service may', { kind: 'service' }, 'owner', null, true],
  ])('%s', (_case, actor, from, to, outcome) => {
    const decision = mayAssignRole(actor, from, to);
    expect(decision.allowed ? true : decision.reason).toBe(outcome);
  });
});

describe('mayIssueToken: a token is never more powerful than who issues it', () => {
  it.each<[string, Parameters<typeof mayIssueToken>[0], 'master' | 'standard' | 'acl', boolean]>([
    ['owner issues master', { kind: 'user', role: 'owner' }, 'master', true],
    ['admin issues standard', { kind: 'user', role: 'admin' }, 'standard', true],
    ['admin issues acl', { kind: 'user', role: 'admin' }, 'acl', true],
    ['admin may not issue master (owner-equivalent)', { kind: 'user', role: 'admin' }, 'master', false],
    ['member issues nothing', { kind: 'user', role: 'member' }, 'acl', false],
    ['master issues master', { kind: 'master' }, 'master', true],
    ['standard issues nothing', { kind: 'standard' }, 'acl', false],
  ])('%s', (_case, actor, kind, allowed) => {
    expect(mayIssueToken(actor, kind)).toBe(allowed);
  });

  it('master is owner-equivalent; standard is not', () => {
    expect(actorCovers({ kind: 'master' }, 'owner')).toBe(true);
    expect(actorCovers({ kind: 'standard' }, 'admin')).toBe(false);
  });
});

describe('operationOfAction', () => {
  it.each([
    ['connect', 'read'],
    ['subscribe', 'read'],
    ['read', 'read'],
    ['publish', 'write'],
    ['write', 'write'],
    ['admin', 'manage_tokens'],
  ] as const)('%s → %s', (action, operation) => expect(operationOfAction(action)).toBe(operation));
});
