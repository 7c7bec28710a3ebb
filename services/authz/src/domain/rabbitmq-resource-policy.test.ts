import { describe, expect, it } from 'vitest';
import { accountOfVhost, aclResourceRefusal, isRoutingKeyUnsupported, routingKeyToTopic, userMayUseResource } from './rabbitmq-resource-policy.ts';

const acc = 'acc_0123456789abcdefghjk';

describe('rabbitmq resource policy', () => {
  it('maps routing keys to MQTT topics word by word', () => {
    expect(routingKeyToTopic('devices.*.temp.#')).toBe('devices/+/temp/#');
  });

  it('binds a vhost to its account id, and / only when configured', () => {
    expect(accountOfVhost(acc, undefined)).toBe(acc);
    expect(accountOfVhost('/', undefined)).toBeUndefined();
    expect(accountOfVhost('/', acc)).toBe(acc);
    expect(accountOfVhost('shared', acc)).toBeUndefined();
  });

  it.each([
    ['exchange', 'amq.topic', 'write', undefined],
    ['exchange', 'amq.topic', 'configure', 'KIND_NOT_ALLOWED'],
    ['exchange', 'amq.default', 'write', 'KIND_NOT_ALLOWED'],
    ['queue', 'mqtt-subscription-c1qos1', 'read', undefined],
    ['queue', 'mqtt-subscription-c2qos1', 'read', 'KIND_NOT_ALLOWED'],
    ['queue', 'amq.gen-xyz', 'configure', undefined],
  ])('acl token: %s %s %s → %s', (resource, name, permission, expected) => {
    expect(aclResourceRefusal({ principalAccountId: acc, vhostAccountId: acc, resource, name, permission, clientId: 'c1' })).toBe(expected);
  });

  it('keeps an acl token in its own account', () => {
    expect(aclResourceRefusal({ principalAccountId: acc, vhostAccountId: 'acc_other', resource: 'exchange', name: 'amq.topic', permission: 'write', clientId: 'c1' })).toBe('ACCOUNT_NOT_IN_SCOPE');
  });

  it('lets a viewer read but not write an exchange', () => {
    expect(userMayUseResource('viewer', 'exchange', 'read')).toBe(true);
    expect(userMayUseResource('viewer', 'exchange', 'write')).toBe(false);
    expect(userMayUseResource('member', 'exchange', 'write')).toBe(true);
  });

  it('refuses routing keys it cannot reason about as topics', () => {
    expect(isRoutingKeyUnsupported('a/b.c', 'subscribe')).toBe(true);
    expect(isRoutingKeyUnsupported('$SYS.x', 'publish')).toBe(true);
    expect(isRoutingKeyUnsupported('a.*', 'publish')).toBe(true);
    expect(isRoutingKeyUnsupported('a.*', 'subscribe')).toBe(false);
    expect(isRoutingKeyUnsupported('devices.c1.temp', 'publish')).toBe(false);
  });
});
