import { describe, expect, it } from 'vitest';
import { effectiveRole, parseRole, rolesForToken, wouldRemoveLastOwner, type Membership } from './roles.ts';

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

describe('effectiveRole: where a role applies (what it may do is libs/policy/role-policy.ts)', () => {
  it.each<[string, Membership[], string[], string | undefined]>([
    ['an owner on the subtree', owner, plant, 'owner'],
    ['a viewer on the subtree', viewer, plant, 'viewer'],
    ['a member on its account', member, acme, 'member'],
    ['an admin of X on X', euAdmin, acmeEu, 'admin'],
    ['an admin of X never on its parent', euAdmin, acme, undefined],
    ['an admin never on another company', euAdmin, globex, undefined],
    ['the highest role on the path wins', consultant, plant, 'admin'],
    ['a lower role above still applies where nothing higher does', consultant, acme, 'viewer'],
    ['no memberships', [], acme, undefined],
  ])('%s', (_case, memberships, path, expected) => {
    expect(effectiveRole(memberships, path)?.role).toBe(expected);
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
