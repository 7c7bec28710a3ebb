import { describe, expect, it } from 'vitest';
import type { IdentityPeer } from '../clients/identity-peer.ts';
import { createAuthzCore } from '../authz-core.ts';
import { InMemoryTokenStore } from '../../test/doubles/in-memory-token-store.ts';

describe('authorize: a cached credential is decided at once', () => {
  it('answers without a promise when the token and its account path are cached, and awaits a miss', async () => {
    let clock = 1_000_000;
    const now = () => clock;
    let identityReads = 0;
    const identity: IdentityPeer = {
      accountPath: async (accountId) => {
        identityReads++;
        return [{ id: accountId, suspended: false }];
      },
      verifyPassword: () => Promise.reject(new Error('not used here')),
      close() {},
    };
    const core = createAuthzCore({ store: new InMemoryTokenStore({ now }), identity, clock: { nowMs: now }, accountCacheMs: 5_000 });
    const { secret } = await core.createToken({ accountId: 'acc_1', name: 't', kind: 'acl', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:a/#'] }], ipAllow: [], expiresAtMs: undefined, ttlSeconds: 0, shortForm: false, createdBy: 'test' });
    const input = (resource: string) => ({ credential: { bearer: secret }, action: 'publish', resources: [resource], clientId: 'c1', peerIp: '10.0.0.1', accountId: undefined, source: 'grpc' });

    const first = core.authorize(input('mqtt:a/1'));
    expect(first).toBeInstanceOf(Promise); // the token is read from the store
    expect(await first).toEqual([{ allowed: true, reason: 'ALLOWED', cacheTtlMs: 60_000, accountId: 'acc_1' }]);

    const second = core.authorize(input('mqtt:b/1'));
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toEqual([expect.objectContaining({ allowed: false, accountId: 'acc_1' })]);

    // Bad input is still refused (thrown at once, as the handler's caller sees it).
    expect(() => core.authorize({ ...input('mqtt:a/1'), action: 'fly' })).toThrow(/action/);

    // The account path expired: read again (a promise), then cached again.
    clock += 5_000;
    const reads = identityReads;
    const third = core.authorize(input('mqtt:a/2'));
    expect(third).toBeInstanceOf(Promise);
    expect(await third).toEqual([expect.objectContaining({ allowed: true })]);
    expect(identityReads).toBe(reads + 1);
    expect(core.authorize(input('mqtt:a/3'))).not.toBeInstanceOf(Promise);

    // Every decision counted, every token lookup tallied (hit or miss).
    const stats = core.decisions.tallies.statsOf(['acc_1']);
    expect({ allowed: stats.allowed, denied: stats.denied }).toEqual({ allowed: 3, denied: 1 });
    expect(stats.cacheHits + stats.cacheMisses).toBe(4);
  });
});

describe('authorize: a cached secret is found by its hash before its form is read', () => {
  it('decides the first field given from the cache, and leaves every other credential to the checks it always had', async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const identity: IdentityPeer = {
      accountPath: async (accountId) => [{ id: accountId, suspended: false }],
      verifyPassword: () => Promise.reject(new Error('not used here')),
      close() {},
    };
    const store = new InMemoryTokenStore({ now });
    let storeReads = 0;
    const findBySecretHash = store.findBySecretHash.bind(store);
    const get = store.get.bind(store);
    store.findBySecretHash = (hash, nowMs) => {
      storeReads++;
      return findBySecretHash(hash, nowMs);
    };
    store.get = (id) => {
      storeReads++;
      return get(id);
    };
    const core = createAuthzCore({ store, identity, clock: { nowMs: now }, decisionTtlMs: 60_000 });
    const rules = [{ effect: 'allow' as const, actions: ['publish'], resources: ['mqtt:a/#'] }];
    const { secret, token } = await core.createToken({ accountId: 'acc_1', name: 't', kind: 'acl', rules, ipAllow: [], expiresAtMs: undefined, ttlSeconds: 0, shortForm: false, createdBy: 'test' });
    const publish = (credential: { bearer?: string; username?: string; password?: string }) =>
      core.authorize({ credential, action: 'publish', resources: ['mqtt:a/1'], clientId: 'c1', peerIp: '10.0.0.1', accountId: undefined, source: 'grpc' });
    const allowed = [{ allowed: true, reason: 'ALLOWED', cacheTtlMs: 60_000, accountId: 'acc_1' }];

    expect(await publish({ bearer: secret })).toEqual(allowed); // read once from the store, then cached
    expect(storeReads).toBe(1);

    // The secret in whichever field comes first, and after a field that holds no secret: from the cache.
    expect(publish({ bearer: secret })).toEqual(allowed);
    expect(publish({ username: secret, password: 'anything' })).toEqual(allowed);
    expect(publish({ password: secret })).toEqual(allowed);
    expect(publish({ bearer: 'not-a-token', username: secret })).toEqual(allowed);
    expect(storeReads).toBe(1);

    // A value of a secret's shape that was never issued: the checksum refuses it, without the store.
    const last = secret.at(-1) === 'A' ? 'B' : 'A';
    const mistyped = secret.slice(0, -1) + last;
    expect(await publish({ bearer: mistyped })).toEqual([{ allowed: false, reason: 'TOKEN_MALFORMED', cacheTtlMs: 0, accountId: '' }]);
    expect(storeReads).toBe(1);

    // A cached entry past its freshness is read again (by its id); a revoked token is not answered from memory.
    clock += 60_000;
    const stale = publish({ bearer: secret });
    expect(stale).toBeInstanceOf(Promise);
    expect(await stale).toEqual(allowed);
    expect(storeReads).toBe(2);
    await core.revokeToken(token.id);
    expect(await publish({ bearer: secret })).toEqual([{ allowed: false, reason: 'TOKEN_REVOKED', cacheTtlMs: 0, accountId: '' }]);
  });
});
