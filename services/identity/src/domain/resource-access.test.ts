import { describe, expect, it } from 'vitest';
import { canManageGrants, checkResourceAccess, type Permission, type Resource, type ResourceUser } from './resource-access.ts';

// acme ─ acme-eu (owns dataset "telemetry" and restricted "payroll");  globex owns "orders".
const telemetry: Resource = { id: 'res_telemetry', accountPath: ['acme', 'acme-eu'], restricted: false };
const payroll: Resource = { id: 'res_payroll', accountPath: ['acme', 'acme-eu'], restricted: true };
const orders: Resource = { id: 'res_orders', accountPath: ['globex'], restricted: false };

const user = (id: string, memberships: ResourceUser['memberships'], grants: Array<[string, Permission]> = []): ResourceUser => ({
  id,
  memberships,
  grants: grants.map(([resourceId, permission]) => ({ resourceId, userId: id, permission })),
});

const viewer = user('usr_v', [{ accountId: 'acme', role: 'viewer' }]);
const member = user('usr_m', [{ accountId: 'acme-eu', role: 'member' }]);
const admin = user('usr_a', [{ accountId: 'acme', role: 'admin' }]);
const hr = user('usr_hr', [{ accountId: 'acme-eu', role: 'viewer' }], [['res_payroll', 'write']]);
const auditor = user('usr_x', [], [['res_telemetry', 'read']]);
const elevated = user('usr_e', [{ accountId: 'acme', role: 'viewer' }], [['res_telemetry', 'write']]);

describe('checkResourceAccess', () => {
  it.each<[string, ResourceUser, Resource, Permission, string]>([
    ['viewer reads by role', viewer, telemetry, 'read', 'role'],
    ['viewer cannot write', viewer, telemetry, 'write', 'INSUFFICIENT_PERMISSION'],
    ['member writes', member, telemetry, 'write', 'role'],
    ['member cannot admin', member, telemetry, 'admin', 'INSUFFICIENT_PERMISSION'],
    ['admin of the parent account administers', admin, telemetry, 'admin', 'role'],
    ['a member of acme-eu has nothing on globex', member, orders, 'read', 'NO_ACCESS'],
    ['restricted: role alone is not enough', member, payroll, 'read', 'RESTRICTED'],
    ['restricted: not even for an admin', admin, payroll, 'read', 'RESTRICTED'],
    ['restricted: the granted user writes', hr, payroll, 'write', 'grant'],
    ['restricted: grant limits the level', hr, payroll, 'admin', 'INSUFFICIENT_PERMISSION'],
    ['a grant without membership', auditor, telemetry, 'read', 'grant'],
    ['a grant raises a role', elevated, telemetry, 'write', 'grant'],
    ['a grant on another resource does not count', hr, telemetry, 'write', 'INSUFFICIENT_PERMISSION'],
  ])('%s', (_case, who, resource, permission, expected) => {
    const decision = checkResourceAccess(who, resource, permission);
    expect(decision.allowed ? decision.via : decision.reason).toBe(expected);
  });

  it('a suspended account denies everything', () => {
    expect(checkResourceAccess(admin, { ...telemetry, accountSuspended: true }, 'read')).toEqual({ allowed: false, reason: 'ACCOUNT_SUSPENDED' });
  });

  it('ignores grants that name another user', () => {
    const forged: ResourceUser = { id: 'usr_z', memberships: [], grants: [{ resourceId: 'res_payroll', userId: 'usr_hr', permission: 'admin' }] };
    expect(checkResourceAccess(forged, payroll, 'read')).toEqual({ allowed: false, reason: 'RESTRICTED' });
  });
});

describe('canManageGrants', () => {
  it.each<[string, ResourceUser, Resource, boolean]>([
    ['account admin, even on a restricted resource', admin, payroll, true],
    ['member', member, telemetry, false],
    ['holder of an admin grant', user('usr_g', [], [['res_orders', 'admin']]), orders, true],
    ['holder of a write grant', hr, payroll, false],
  ])('%s', (_case, who, resource, expected) => expect(canManageGrants(who, resource)).toBe(expected));
});
