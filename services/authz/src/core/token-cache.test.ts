import { describe, expect, it } from 'vitest';
import type { IdentityPeer } from '../clients/identity-peer.ts';
import type { TokenStore } from '../domain/token-record.ts';
import { createTokenCache } from './token-cache.ts';

/** identity's side of the cache, answered by the test: each read waits until the test resolves it. */
function controlledIdentity() {
  const reads: { accountId: string; answer(suspended: boolean): void }[] = [];
  const identity: IdentityPeer = {
    accountPath: (accountId) =>
      new Promise((resolve) => reads.push({ accountId, answer: (suspended) => resolve([{ id: accountId, suspended }]) })),
    verifyPassword: () => Promise.reject(new Error('not used here')),
    close() {},
  };
  return { identity, reads };
}

describe('token cache: account paths', () => {
  const store = {} as TokenStore; // account paths never read the token store
  let clock = 1_000;
  const now = () => clock;

  it('answers every call that misses at once from one identity read', async () => {
    const { identity, reads } = controlledIdentity();
    const cache = createTokenCache({ store, identity, now, tokenTtlMs: 60_000, accountCacheMs: 5_000 });
    const calls = Array.from({ length: 64 }, () => cache.accountPath('acc_1'));
    expect(reads).toHaveLength(1);
    reads[0]!.answer(false);
    for (const path of await Promise.all(calls)) expect(path).toEqual([{ id: 'acc_1', suspended: false }]);
    expect(cache.freshAccountPath('acc_1')).toEqual([{ id: 'acc_1', suspended: false }]);

    // Expired: read again, once.
    clock += 5_000;
    expect(cache.freshAccountPath('acc_1')).toBeUndefined();
    const again = [cache.accountPath('acc_1'), cache.accountPath('acc_1')];
    expect(reads).toHaveLength(2);
    reads[1]!.answer(false);
    await Promise.all(again);
  });

  it('never answers a call made after an account change from a read begun before it', async () => {
    const { identity, reads } = controlledIdentity();
    const cache = createTokenCache({ store, identity, now, tokenTtlMs: 60_000, accountCacheMs: 5_000 });
    const before = cache.accountPath('acc_2');
    cache.forgetAccounts(); // identity's feed: the account changed (suspended) while the read was in flight
    const after = cache.accountPath('acc_2');
    expect(reads).toHaveLength(2);
    reads[0]!.answer(false); // the old state
    reads[1]!.answer(true);
    expect(await before).toEqual([{ id: 'acc_2', suspended: false }]);
    expect(await after).toEqual([{ id: 'acc_2', suspended: true }]);
    // Only the read of the new generation is cached.
    expect(cache.freshAccountPath('acc_2')).toEqual([{ id: 'acc_2', suspended: true }]);
  });
});
