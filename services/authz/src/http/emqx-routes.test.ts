import { describe, expect, it } from 'vitest';
import type { TokenRule } from '../domain/token-record.ts';
import { rulesToEmqxAcl } from './emqx-routes.ts';

const values = { account: 'acc_1', token: 'tok_1', clientId: 'c1', username: 'u1' };
const allow = (actions: string[], ...resources: string[]): TokenRule => ({ effect: 'allow', actions, resources }) as TokenRule;
const deny = (actions: string[], ...resources: string[]): TokenRule => ({ effect: 'deny', actions, resources }) as TokenRule;

describe('rulesToEmqxAcl (the acl shipped with an EMQX authn allow)', () => {
  it('fills placeholders with this connection, one rule per action, mqtt resources only, under the account level', () => {
    expect(rulesToEmqxAcl([allow(['publish', 'subscribe', 'read'], 'mqtt:t/${account}/${client_id}/#', 'api:/x'), allow(['subscribe'], 'mqtt:u/${username}/${token}')], values, 'account-prefix')).toEqual([
      { permission: 'allow', action: 'publish', topic: 'acc_1/t/acc_1/c1/#' },
      { permission: 'allow', action: 'subscribe', topic: 'acc_1/t/acc_1/c1/#' },
      { permission: 'allow', action: 'subscribe', topic: 'acc_1/u/u1/tok_1' },
    ]);
  });

  it('ships topics as they are in namespace mode none', () => {
    expect(rulesToEmqxAcl([allow(['publish'], 'mqtt:devices/${client_id}/#', 'mqtt:#'), deny(['subscribe'], 'mqtt:+/secret')], values, 'none')).toEqual([
      { permission: 'deny', action: 'subscribe', topic: '+/secret' },
      { permission: 'allow', action: 'publish', topic: 'devices/c1/#' },
      { permission: 'allow', action: 'publish', topic: '#' },
    ]);
  });

  it('leaves out a rule whose placeholder value could act as a wildcard or level, as our engine never matches it', () => {
    for (const clientId of ['', '+', '#', 'a/b', '${username}']) {
      expect(rulesToEmqxAcl([allow(['publish'], 'mqtt:devices/${client_id}/#'), allow(['publish'], 'mqtt:fixed')], { ...values, clientId }, 'account-prefix'), clientId).toEqual([
        { permission: 'allow', action: 'publish', topic: 'acc_1/fixed' },
      ]);
    }
  });

  it("ships deny rules first, and no allow rules for an action a deny rule names (EMQX would allow a filter overlapping the deny)", () => {
    const rules = [allow(['publish', 'subscribe'], 'mqtt:devices/c1/#'), deny(['subscribe'], 'mqtt:devices/c1/secret')];
    expect(rulesToEmqxAcl(rules, values, 'account-prefix')).toEqual([
      { permission: 'deny', action: 'subscribe', topic: 'acc_1/devices/c1/secret' },
      { permission: 'allow', action: 'publish', topic: 'acc_1/devices/c1/#' },
    ]);
  });

  it('in account-prefix mode, leaves out allow rules starting with a wildcard or `$` (EMQX would match `<account>/$x` with them), keeps such deny rules', () => {
    const rules = [allow(['publish'], 'mqtt:#', 'mqtt:+/x', 'mqtt:$SYS/#', 'mqtt:a/+/b'), deny(['subscribe'], 'mqtt:#', 'mqtt:$x')];
    expect(rulesToEmqxAcl(rules, values, 'account-prefix')).toEqual([
      { permission: 'deny', action: 'subscribe', topic: 'acc_1/#' },
      { permission: 'deny', action: 'subscribe', topic: 'acc_1/$x' },
      { permission: 'allow', action: 'publish', topic: 'acc_1/a/+/b' },
    ]);
  });

  it("never ships a topic EMQX would read differently ('eq ' prefix)", () => {
    expect(rulesToEmqxAcl([allow(['publish'], 'mqtt:eq a/b')], values, 'account-prefix')).toEqual([]);
    expect(rulesToEmqxAcl([allow(['publish'], 'mqtt:eq a/b')], values, 'none')).toEqual([]);
  });
});
