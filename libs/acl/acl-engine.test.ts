import { describe, expect, it } from 'vitest';
import { AppError } from '#libs/errors/index.ts';
import type { AclAction, AclRule, AclVars } from './acl-rule.ts';
import { checkAccess, checkSubscribe, checkSubscribeFiltered, compileRules, mayConnect, mayReceive } from './acl-engine.ts';

const allow = (resources: string[], actions: AclAction[] = ['publish', 'subscribe']): AclRule => ({ effect: 'allow', actions, resources });
const deny = (resources: string[], actions: AclAction[] = ['publish', 'subscribe']): AclRule => ({ effect: 'deny', actions, resources });

type Case = [name: string, rules: AclRule[], action: AclAction, resource: string, vars: AclVars, expected: string];

const c1: AclVars = { client_id: 'c1', account: 'acc_1', token: 'tok_1', username: 'u1' };

// expected: 'ALLOWED#i' | 'DENIED_BY_RULE#i' | 'NO_MATCHING_RULE'
const cases: Case[] = [
  // wildcards, publish
  ['exact topic', [allow(['mqtt:a/b'])], 'publish', 'mqtt:a/b', {}, 'ALLOWED#0'],
  ['other topic', [allow(['mqtt:a/b'])], 'publish', 'mqtt:a/c', {}, 'NO_MATCHING_RULE'],
  ['no rules at all', [], 'publish', 'mqtt:a', {}, 'NO_MATCHING_RULE'],
  ['+ one level', [allow(['mqtt:a/+/c'])], 'publish', 'mqtt:a/x/c', {}, 'ALLOWED#0'],
  ['+ not two levels', [allow(['mqtt:a/+/c'])], 'publish', 'mqtt:a/x/y/c', {}, 'NO_MATCHING_RULE'],
  ['+ empty level', [allow(['mqtt:a/+/c'])], 'publish', 'mqtt:a//c', {}, 'ALLOWED#0'],
  ['# rest', [allow(['mqtt:a/#'])], 'publish', 'mqtt:a/b/c/d', {}, 'ALLOWED#0'],
  ['# parent level', [allow(['mqtt:a/#'])], 'publish', 'mqtt:a', {}, 'ALLOWED#0'],
  ['# not sibling', [allow(['mqtt:a/#'])], 'publish', 'mqtt:ab', {}, 'NO_MATCHING_RULE'],
  ['# everything', [allow(['mqtt:#'])], 'publish', 'mqtt:x/y', {}, 'ALLOWED#0'],
  ['lowest allow index', [allow(['mqtt:a/#']), allow(['mqtt:a/b'])], 'publish', 'mqtt:a/b', {}, 'ALLOWED#0'],
  ['action not listed', [allow(['mqtt:a'], ['subscribe'])], 'publish', 'mqtt:a', {}, 'NO_MATCHING_RULE'],
  // $ topics [MQTT-4.7.2-1]
  ['# never matches $SYS', [allow(['mqtt:#'])], 'publish', 'mqtt:$SYS/x', {}, 'NO_MATCHING_RULE'],
  ['+ never matches $SYS', [allow(['mqtt:+/x'])], 'publish', 'mqtt:$SYS/x', {}, 'NO_MATCHING_RULE'],
  ['$SYS/# literal', [allow(['mqtt:$SYS/#'])], 'publish', 'mqtt:$SYS/x', {}, 'ALLOWED#0'],
  ['deny # does not reach $', [allow(['mqtt:$SYS/#']), deny(['mqtt:#'])], 'publish', 'mqtt:$SYS/x', {}, 'ALLOWED#0'],
  ['$ deeper is an ordinary level', [allow(['mqtt:a/+'])], 'publish', 'mqtt:a/$x', {}, 'ALLOWED#0'],
  // deny over allow, order irrelevant
  ['deny beats allow', [allow(['mqtt:a/#']), deny(['mqtt:a/secret'])], 'publish', 'mqtt:a/secret', {}, 'DENIED_BY_RULE#1'],
  ['deny beats allow (reversed)', [deny(['mqtt:a/secret']), allow(['mqtt:a/#'])], 'publish', 'mqtt:a/secret', {}, 'DENIED_BY_RULE#0'],
  ['deny elsewhere', [allow(['mqtt:a/#']), deny(['mqtt:a/secret'])], 'publish', 'mqtt:a/public', {}, 'ALLOWED#0'],
  ['deny # wins', [allow(['mqtt:a/b']), deny(['mqtt:#'])], 'publish', 'mqtt:a/b', {}, 'DENIED_BY_RULE#1'],
  ['deny only', [deny(['mqtt:a'])], 'publish', 'mqtt:b', {}, 'NO_MATCHING_RULE'],
  // placeholders
  ['client_id fills a level', [allow(['mqtt:devices/${client_id}/#'])], 'publish', 'mqtt:devices/c1/t', c1, 'ALLOWED#0'],
  ['other client', [allow(['mqtt:devices/${client_id}/#'])], 'publish', 'mqtt:devices/c2/t', c1, 'NO_MATCHING_RULE'],
  ['missing var', [allow(['mqtt:devices/${client_id}/#'])], 'publish', 'mqtt:devices/c1/t', {}, 'NO_MATCHING_RULE'],
  ['empty var', [allow(['mqtt:devices/${client_id}'])], 'publish', 'mqtt:devices/', { client_id: '' }, 'NO_MATCHING_RULE'],
  ['var with / never matches', [allow(['mqtt:devices/${client_id}/t'])], 'publish', 'mqtt:devices/a/b/t', { client_id: 'a/b' }, 'NO_MATCHING_RULE'],
  ['var with + never matches', [allow(['mqtt:d/${client_id}'])], 'subscribe', 'mqtt:d/+', { client_id: '+' }, 'NO_MATCHING_RULE'],
  ['var with # never matches', [allow(['mqtt:d/${client_id}'])], 'subscribe', 'mqtt:d/#', { client_id: '#' }, 'NO_MATCHING_RULE'],
  ['account and username', [allow(['mqtt:${account}/${username}/${token}'])], 'publish', 'mqtt:acc_1/u1/tok_1', c1, 'ALLOWED#0'],
  ['deny placeholder', [allow(['mqtt:#']), deny(['mqtt:${client_id}/private'])], 'publish', 'mqtt:c1/private', c1, 'DENIED_BY_RULE#1'],
  ['deny placeholder, other client', [allow(['mqtt:#']), deny(['mqtt:${client_id}/private'])], 'publish', 'mqtt:c2/private', c1, 'ALLOWED#0'],
  // subscribe containment
  ['sub: own subtree with +', [allow(['mqtt:devices/${client_id}/#'])], 'subscribe', 'mqtt:devices/c1/+/temp', c1, 'ALLOWED#0'],
  ['sub: + across clients', [allow(['mqtt:devices/${client_id}/#'])], 'subscribe', 'mqtt:devices/+/temp', c1, 'NO_MATCHING_RULE'],
  ['sub: # under own', [allow(['mqtt:devices/${client_id}/#'])], 'subscribe', 'mqtt:devices/c1/#', c1, 'ALLOWED#0'],
  ['sub: exact filter', [allow(['mqtt:a/b'])], 'subscribe', 'mqtt:a/b', {}, 'ALLOWED#0'],
  ['sub: broader than rule', [allow(['mqtt:a/b'])], 'subscribe', 'mqtt:a/+', {}, 'NO_MATCHING_RULE'],
  ['sub: a/# needs the parent too', [allow(['mqtt:a/+/#'])], 'subscribe', 'mqtt:a/#', {}, 'NO_MATCHING_RULE'],
  ['sub: a/# covered by a and a/+/#', [allow(['mqtt:a']), allow(['mqtt:a/+/#'])], 'subscribe', 'mqtt:a/#', {}, 'ALLOWED#1'],
  ['sub: # by #', [allow(['mqtt:#'])], 'subscribe', 'mqtt:#', {}, 'ALLOWED#0'],
  ['sub: + by + chain is not #', [allow(['mqtt:+', 'mqtt:+/+'])], 'subscribe', 'mqtt:#', {}, 'NO_MATCHING_RULE'],
  ['sub: +/+ by +/#', [allow(['mqtt:+/#'])], 'subscribe', 'mqtt:+/+', {}, 'ALLOWED#0'],
  ['sub: literal union does not cover +', [allow(['mqtt:a/x', 'mqtt:a/y'])], 'subscribe', 'mqtt:a/+', {}, 'NO_MATCHING_RULE'],
  ['sub: # overlaps a deny', [allow(['mqtt:#']), deny(['mqtt:a/secret'])], 'subscribe', 'mqtt:#', {}, 'DENIED_BY_RULE#1'],
  ['sub: + overlaps a deny', [allow(['mqtt:a/#']), deny(['mqtt:a/secret'])], 'subscribe', 'mqtt:a/+', {}, 'DENIED_BY_RULE#1'],
  ['sub: disjoint deny', [allow(['mqtt:#']), deny(['mqtt:a/secret'])], 'subscribe', 'mqtt:b/#', {}, 'ALLOWED#0'],
  ['sub: deny on parent via #', [allow(['mqtt:#']), deny(['mqtt:a'])], 'subscribe', 'mqtt:a/#', {}, 'DENIED_BY_RULE#1'],
  ['sub: deny +/x overlaps a/#', [allow(['mqtt:#']), deny(['mqtt:+/x'])], 'subscribe', 'mqtt:a/#', {}, 'DENIED_BY_RULE#1'],
  ['sub: # and deny $SYS do not overlap', [allow(['mqtt:#']), deny(['mqtt:$SYS/#'])], 'subscribe', 'mqtt:#', {}, 'ALLOWED#0'],
  ['sub: # does not cover $SYS', [allow(['mqtt:#'])], 'subscribe', 'mqtt:$SYS/#', {}, 'NO_MATCHING_RULE'],
  ['sub: + at root excludes $ deny', [allow(['mqtt:+/x']), deny(['mqtt:$a/x'])], 'subscribe', 'mqtt:+/x', {}, 'ALLOWED#0'],
  ['sub: deny placeholder overlaps +', [allow(['mqtt:d/#']), deny(['mqtt:d/${client_id}'])], 'subscribe', 'mqtt:d/+', c1, 'DENIED_BY_RULE#1'],
  ['sub: bad deny placeholder value', [allow(['mqtt:d/#']), deny(['mqtt:d/${client_id}'])], 'subscribe', 'mqtt:d/+', { client_id: 'x/y' }, 'ALLOWED#0'],
  ['sub: shared by inner filter', [allow(['mqtt:a/#'])], 'subscribe', 'mqtt:$share/g/a/+', {}, 'ALLOWED#0'],
  ['sub: shared outside', [allow(['mqtt:a/#'])], 'subscribe', 'mqtt:$share/g/#', {}, 'NO_MATCHING_RULE'],
  // connect
  ['connect allowed', [allow(['mqtt:#'], ['connect'])], 'connect', 'mqtt:', {}, 'ALLOWED#0'],
  // A token may connect unless a rule denies it (mayConnect): no connect rule at all is a yes.
  ['connect without connect rules', [allow(['mqtt:#'])], 'connect', 'mqtt:', {}, 'ALLOWED'],
  ['connect with no rules at all', [], 'connect', '', {}, 'ALLOWED'],
  ['connect denied without an allow', [allow(['mqtt:#']), deny(['mqtt:#'], ['connect'])], 'connect', '', {}, 'DENIED_BY_RULE#1'],
  ['connect denied', [allow(['mqtt:#'], ['connect']), deny(['mqtt:#'], ['connect'])], 'connect', '', {}, 'DENIED_BY_RULE#1'],
  // api
  ['api * one segment', [allow(['api:/devices/*'], ['read'])], 'read', 'api:/devices/7', {}, 'ALLOWED#0'],
  ['api * not two', [allow(['api:/devices/*'], ['read'])], 'read', 'api:/devices/7/x', {}, 'NO_MATCHING_RULE'],
  ['api ** any depth', [allow(['api:/devices/**'], ['read'])], 'read', 'api:/devices/7/x/y', {}, 'ALLOWED#0'],
  ['api ** includes parent', [allow(['api:/devices/**'], ['read'])], 'read', 'api:/devices', {}, 'ALLOWED#0'],
  ['api action differs', [allow(['api:/devices/**'], ['read'])], 'write', 'api:/devices/1', {}, 'NO_MATCHING_RULE'],
  ['api deny', [allow(['api:/**'], ['read', 'write']), deny(['api:/admin/**'], ['write'])], 'write', 'api:/admin/x', {}, 'DENIED_BY_RULE#1'],
  ['api placeholder', [allow(['api:/accounts/${account}/**'], ['read'])], 'read', 'api:/accounts/acc_1/usage', c1, 'ALLOWED#0'],
  ['api placeholder other', [allow(['api:/accounts/${account}/**'], ['read'])], 'read', 'api:/accounts/acc_2/usage', c1, 'NO_MATCHING_RULE'],
  // dataset
  ['dataset id', [allow(['dataset:ds_1'], ['read'])], 'read', 'dataset:ds_1', {}, 'ALLOWED#0'],
  ['dataset other', [allow(['dataset:ds_1'], ['read'])], 'read', 'dataset:ds_2', {}, 'NO_MATCHING_RULE'],
  ['dataset *', [allow(['dataset:*'], ['read', 'write'])], 'write', 'dataset:ds_9', {}, 'ALLOWED#0'],
  ['dataset deny id over *', [allow(['dataset:*'], ['read']), deny(['dataset:ds_1'], ['read'])], 'read', 'dataset:ds_1', {}, 'DENIED_BY_RULE#1'],
  ['dataset deny * over id', [allow(['dataset:ds_1'], ['admin']), deny(['dataset:*'], ['admin'])], 'admin', 'dataset:ds_1', {}, 'DENIED_BY_RULE#1'],
];

describe('checkAccess', () => {
  it.each(cases)('%s', (_name, rules, action, resource, vars, expected) => {
    const decision = checkAccess(compileRules(rules), { action, resource, vars });
    const [reason, index] = expected.split('#');
    expect(decision.reason).toBe(reason);
    expect(decision.allowed).toBe(reason === 'ALLOWED');
    expect(decision.ruleIndex).toBe(index === undefined ? undefined : Number(index));
  });

  it('mayConnect: the one answer to "may this token connect", agreeing with checkAccess', () => {
    const cases: [Parameters<typeof compileRules>[0], boolean][] = [
      [[], true],
      [[allow(['mqtt:#'])], true],
      [[allow(['mqtt:#'], ['connect'])], true],
      [[allow(['mqtt:#']), deny(['mqtt:x'], ['connect'])], false],
      [[allow(['mqtt:#'], ['connect']), deny(['mqtt:#'], ['connect'])], false],
    ];
    for (const [rules, expected] of cases) {
      const acl = compileRules(rules);
      expect(mayConnect(acl)).toBe(expected);
      expect(checkAccess(acl, { action: 'connect', resource: '' }).allowed).toBe(expected);
    }
  });

  it('answers with the same frozen decision object (no allocation per check)', () => {
    const acl = compileRules([allow(['mqtt:a/#'])]);
    const first = checkAccess(acl, { action: 'publish', resource: 'mqtt:a/1' });
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:a/2' })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  const bad: [AclAction, string, RegExp][] = [
    ['publish', 'mqtt:a/+', /wildcard/],
    ['publish', 'mqtt:', /empty/],
    ['publish', 'api:/x', /mqtt: resource/],
    ['subscribe', 'mqtt:a/#/b', /last level/],
    ['read', 'mqtt:a', /api: or dataset:/],
    ['read', 'api:x', /start with/],
    ['read', 'dataset:', /empty/],
  ];
  it.each(bad)('%s %j → INVALID_ARGUMENT on resource', (action, resource, message) => {
    const acl = compileRules([allow(['mqtt:#'])]);
    try {
      checkAccess(acl, { action, resource });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('INVALID_ARGUMENT');
      expect((error as AppError).field).toBe('resource');
      expect((error as AppError).message).toMatch(message);
    }
  });

  it('reuses its level scratch safely: a shorter topic after a longer one', () => {
    const acl = compileRules([allow(['mqtt:a']), allow(['mqtt:a/b/c/#'])]);
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:x/y/z/w' }).allowed).toBe(false);
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:a' }).ruleIndex).toBe(0);
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:a/b/c' }).ruleIndex).toBe(1);
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:a/b' }).allowed).toBe(false);
  });

  it('long and non-BMP topics take the full validator and still match', () => {
    const acl = compileRules([allow(['mqtt:long/#']), allow(['mqtt:😀/+'])]);
    const long = 'long/' + 'x'.repeat(60_000);
    expect(checkAccess(acl, { action: 'publish', resource: `mqtt:${long}` }).allowed).toBe(true);
    expect(checkAccess(acl, { action: 'publish', resource: 'mqtt:😀/ü' }).allowed).toBe(true);
    expect(() => checkAccess(acl, { action: 'publish', resource: `mqtt:long/${'é'.repeat(40_000)}` })).toThrow(/65535 bytes/);
    expect(() => checkAccess(acl, { action: 'publish', resource: 'mqtt:a\ud800' })).toThrow(/surrogate/);
  });

  it('rejects an unknown action', () => {
    expect(() => checkAccess(compileRules([]), { action: 'fly' as AclAction, resource: 'mqtt:a' })).toThrow(/unknown action/);
  });
});

describe('checkSubscribeFiltered / mayReceive (subscriptions overlapping a deny rule)', () => {
  const acl = compileRules([
    { effect: 'allow', actions: ['subscribe'], resources: ['mqtt:#'] },
    { effect: 'deny', actions: ['subscribe'], resources: ['mqtt:secret/#', 'mqtt:devices/${client_id}/private'] },
  ]);
  const vars = { client_id: 'c1' };

  it.each([
    ['#', true, true],
    ['+/x', true, true],
    ['devices/+/private', true, true],
    ['$share/g/#', true, true],
    ['a/b', true, false],
    ['secret/#', false, false],
    ['secret/x', false, false],
    ['devices/c1/private', false, false],
  ])('%s → allowed %s, filtered %s', (filter, allowed, filtered) => {
    const d = checkSubscribeFiltered(acl, filter, vars);
    expect([d.allowed, d.filtered]).toEqual([allowed, filtered]);
    if (!filtered) expect(d.allowed).toBe(checkSubscribe(acl, filter, vars).allowed);
  });

  it('checkAccess takes the overlap mode: filter grants what checkSubscribeFiltered grants, refuse (or none) what checkSubscribe does', () => {
    for (const filter of ['#', 'a/b', 'secret/#']) {
      expect(checkAccess(acl, { action: 'subscribe', resource: `mqtt:${filter}`, vars, subscribeOverlap: 'filter' }).allowed).toBe(checkSubscribeFiltered(acl, filter, vars).allowed);
      expect(checkAccess(acl, { action: 'subscribe', resource: `mqtt:${filter}`, vars, subscribeOverlap: 'refuse' }).allowed).toBe(checkSubscribe(acl, filter, vars).allowed);
      expect(checkAccess(acl, { action: 'subscribe', resource: `mqtt:${filter}`, vars }).allowed).toBe(checkSubscribe(acl, filter, vars).allowed);
    }
    expect(checkAccess(acl, { action: 'subscribe', resource: 'mqtt:#', vars, subscribeOverlap: 'filter' }).allowed).toBe(true);
    expect(checkAccess(acl, { action: 'subscribe', resource: 'mqtt:#', vars }).allowed).toBe(false);
  });

  it('a filter not covered by the allow rules stays refused', () => {
    const narrow = compileRules([
      { effect: 'allow', actions: ['subscribe'], resources: ['mqtt:a/#'] },
      { effect: 'deny', actions: ['subscribe'], resources: ['mqtt:a/secret'] },
    ]);
    expect(checkSubscribeFiltered(narrow, '#').allowed).toBe(false);
    expect(checkSubscribeFiltered(narrow, 'a/#')).toMatchObject({ allowed: true, filtered: true });
  });

  it('mayReceive: only the deny rules decide, placeholders bound to the connection', () => {
    expect(mayReceive(acl, 'a/b', vars)).toBe(true);
    expect(mayReceive(acl, 'secret', vars)).toBe(false);
    expect(mayReceive(acl, 'secret/x/y', vars)).toBe(false);
    expect(mayReceive(acl, 'devices/c1/private', vars)).toBe(false);
    expect(mayReceive(acl, 'devices/c2/private', vars)).toBe(true);
  });
});
