import { describe, expect, it } from 'vitest';
import { canManage, effectiveRole, parseRole, rolesForToken, wouldRemoveLastOwner, type AccountAction, type Membership } from './roles.ts';

// Paths root-first. Tree: acme ─ acme-eu ─ acme-eu-plant;  globex (another company).
const acme = ['acme'];
const acmeEu = ['acme', 'acme-eu'];
const plant = ['acme', 'acme-eu', 'acme-eu-plant'];
const globex = ['globex'];

const owner: Membership[] = [{ accountId: 'acme', role: 'owner' }];
const euAdmin: Membership[] = [{ accountId: 'acme-eu', role: 'admin' }];
const member: Membership[] = [{ accountId: 'acme', role: 'member' }];
const viewer: Membership[] = [{ accountId: 'acme', role: 'viewer' }];
// A consultant: viewer at acme, admin of the EU subaccount, member at globex.
const consultant: Membership[] = [
  { accountId: 'acme', role: 'viewer' },
  { accountId: 'acme-eu', role: 'admin' },
  { accountId: 'globex', role: 'member' },
];

const setRole = (from: Membership['role'] | null, to: Membership['role'] | null): AccountAction => ({ kind: 'set_role', from, to });

describe('canManage', () => {
  it.each<[string, Membership[], string[], AccountAction, true | string]>([
    // reads
    ['viewer reads', viewer, acme, 'read', true],
    ['viewer reads the subtree', viewer, plant, 'read', true],
    ['viewer cannot write', viewer, acme, 'write', 'ROLE_TOO_LOW'],
    ['viewer cannot manage', viewer, acme, 'manage', 'ROLE_TOO_LOW'],
    ['member writes', member, plant, 'write', true],
    ['member cannot manage', member, acme, 'manage', 'ROLE_TOO_LOW'],
    ['member cannot add users', member, acme, setRole(null, 'viewer'), 'ROLE_TOO_LOW'],
    // admin of X: X and its subtree, nothing else
    ['admin manages own account', euAdmin, acmeEu, 'manage', true],
    ['admin manages the subtree', euAdmin, plant, 'manage', true],
    ['admin cannot manage the parent', euAdmin, acme, 'manage', 'NOT_A_MEMBER'],
    ['admin cannot even read the parent', euAdmin, acme, 'read', 'NOT_A_MEMBER'],
    ['admin cannot touch another company', euAdmin, globex, 'read', 'NOT_A_MEMBER'],
    ['admin adds a member', euAdmin, acmeEu, setRole(null, 'member'), true],
    ['admin grants admin', euAdmin, plant, setRole('member', 'admin'), true],
    ['admin removes a viewer', euAdmin, acmeEu, setRole('viewer', null), true],
    ['admin may not grant owner', euAdmin, acmeEu, setRole('admin', 'owner'), 'OWNER_REQUIRED'],
    ['admin may not demote an owner', euAdmin, plant, setRole('owner', 'member'), 'OWNER_REQUIRED'],
    ['admin may not remove an owner', euAdmin, plant, setRole('owner', null), 'OWNER_REQUIRED'],
    // owner
    ['owner manages everything below', owner, plant, 'manage', true],
    ['owner grants owner', owner, acmeEu, setRole(null, 'owner'), true],
    ['owner demotes an owner', owner, acme, setRole('owner', 'admin'), true],
    ['owner of acme has nothing on globex', owner, globex, 'manage', 'NOT_A_MEMBER'],
    // several accounts: the highest role on the path wins
    ['consultant reads acme', consultant, acme, 'read', true],
    ['consultant cannot write acme', consultant, acme, 'write', 'ROLE_TOO_LOW'],
    ['consultant manages acme-eu', consultant, acmeEu, 'manage', true],
    ['consultant manages the plant', consultant, plant, 'manage', true],
    ['consultant writes globex', consultant, globex, 'write', true],
    ['consultant cannot manage globex', consultant, globex, 'manage', 'ROLE_TOO_LOW'],
    ['no memberships', [], acme, 'read', 'NOT_A_MEMBER'],
  ])('%s', (_case, memberships, path, action, expected) => {
    const decision = canManage(memberships, path, action);
    expect(decision.allowed ? true : decision.reason).toBe(expected);
  });

  it('says which membership allowed it', () => {
    expect(canManage(consultant, plant, 'manage')).toEqual({ allowed: true, role: 'admin', via: 'acme-eu' });
  });
});

describe('role helpers', () => {
  it.each([
    ['owner', 'owner'],
    [' Admin ', 'admin'],
    ['VIEWER', 'viewer'],
  ])('parseRole(%j)', (text, role) => expect(parseRole(text)).toBe(role));

  it.each(['', 'root', 'superadmin', 'owners'])('parseRole rejects %j naming the field', (text) => {
    expect(() => parseRole(text, 'memberships[0].role')).toThrow(/memberships\[0\]\.role: must be one of owner, admin, member, viewer/);
  });

  it('effectiveRole and rolesForToken', () => {
    expect(effectiveRole(consultant, ['acme'])).toEqual({ role: 'viewer', via: 'acme' });
    expect(rolesForToken(consultant, plant)).toEqual(['admin']);
    expect(rolesForToken(consultant, ['initech'])).toEqual([]);
  });

  it.each<[number, Membership['role'] | null, Membership['role'] | null, boolean]>([
    [1, 'owner', 'admin', true],
    [1, 'owner', null, true],
    [2, 'owner', null, false],
    [1, 'owner', 'owner', false],
    [1, 'admin', null, false],
  ])('wouldRemoveLastOwner(%i, %s → %s) = %s', (count, from, to, expected) => {
    expect(wouldRemoveLastOwner(count, from, to)).toBe(expected);
  });
});
