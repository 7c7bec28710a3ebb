/**
 * The contract every `RefreshTokenStore` adapter passes (in-memory, PGlite, Postgres).
 * Call `describeRefreshTokenStoreContract('postgres', () => createStore())` from the adapter's test.
 */
import { describe, expect, it } from 'vitest';
import type { RefreshTokenFamily, RefreshTokenStore } from './refresh-tokens.ts';

export function describeRefreshTokenStoreContract(name: string, createStore: () => Promise<RefreshTokenStore> | RefreshTokenStore): void {
  const family = (id: string, userId = 'usr_1'): RefreshTokenFamily => ({
    id,
    userId,
    accountId: 'acc_1',
    createdAtMs: 1_000,
    absoluteExpiresAtMs: 9_000,
    revokedAtMs: null,
    revokeReason: null,
  });
  const token = (tokenHash: string, familyId: string) => ({ tokenHash, familyId, accountId: 'acc_1', issuedAtMs: 1_000, expiresAtMs: 5_000, usedAtMs: null });

  describe(`RefreshTokenStore contract: ${name}`, () => {
    it('stores and finds families and tokens', async () => {
      const store = await createStore();
      await store.createFamily(family('f1'));
      await store.insertToken(token('h1', 'f1'));
      expect(await store.getFamily('f1')).toEqual(family('f1'));
      expect(await store.findToken('h1')).toEqual(token('h1', 'f1'));
      expect(await store.findToken('nope')).toBeUndefined();
      expect(await store.getFamily('nope')).toBeUndefined();
    });

    it('markUsed is a compare-and-set', async () => {
      const store = await createStore();
      await store.createFamily(family('f1'));
      await store.insertToken(token('h1', 'f1'));
      const results = await Promise.all([store.markUsed('h1', 2_000), store.markUsed('h1', 2_001)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.findToken('h1'))?.usedAtMs).toBeTypeOf('number');
      expect(await store.markUsed('nope', 2_000)).toBe(false);
    });

    it('revokes a family once, and all live families of a user', async () => {
      const store = await createStore();
      await store.createFamily(family('f1'));
      await store.createFamily(family('f2'));
      await store.createFamily(family('f3', 'usr_2'));
      expect(await store.revokeFamily('f1', 3_000, 'logout')).toBe(true);
      expect(await store.revokeFamily('f1', 3_001, 'admin')).toBe(false);
      expect(await store.getFamily('f1')).toMatchObject({ revokedAtMs: 3_000, revokeReason: 'logout' });
      expect(await store.revokeFamiliesOfUser('usr_1', 4_000, 'password_changed')).toEqual(['f2']);
      expect((await store.getFamily('f3'))?.revokedAtMs).toBeNull();
    });
  });
}
