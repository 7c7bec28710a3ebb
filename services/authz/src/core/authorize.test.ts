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
