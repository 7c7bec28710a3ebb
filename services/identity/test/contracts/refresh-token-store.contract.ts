/**
 * The contract every `RefreshTokenStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case makes its own family, token and user ids.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RefreshTokenFamily, RefreshTokenStore } from '../../src/domain/refresh-tokens.ts';

export function describeRefreshTokenStoreContract(name: string, createStore: () => Promise<RefreshTokenStore> | RefreshTokenStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    const family = (id: string, userId = 'usr_1'): RefreshTokenFamily => ({
      id: `fam_${tag}_${id}`,
      userId: `${userId}_${tag}`,
      accountId: 'acc_1',
      createdAtMs: 1_000,
      absoluteExpiresAtMs: 9_000,
      revokedAtMs: null,
      revokeReason: null,
    });
    const token = (hash: string, familyId: string) => ({ tokenHash: `${hash}_${tag}`, familyId: `fam_${tag}_${familyId}`, accountId: 'acc_1', issuedAtMs: 1_000, expiresAtMs: 5_000, usedAtMs: null });
    return { tag, family, token };
  };

  describe.skipIf(options.skip !== undefined)(`RefreshTokenStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('stores and finds families and tokens', async () => {
      const store = await createStore();
      const { family, token } = scope();
      await store.createFamily(family('f1'));
      await store.insertToken(token('h1', 'f1'));
      expect(await store.getFamily(family('f1').id)).toEqual(family('f1'));
      expect(await store.findToken(token('h1', 'f1').tokenHash)).toEqual(token('h1', 'f1'));
      expect(await store.findToken(token('nope', 'f1').tokenHash)).toBeUndefined();
      expect(await store.getFamily(family('nope').id)).toBeUndefined();
    });

    it('refuses a second family or token with the same id', async () => {
      const store = await createStore();
      const { family, token } = scope();
      await store.createFamily(family('f1'));
      await store.insertToken(token('h1', 'f1'));
      await expect(store.createFamily({ ...family('f1'), createdAtMs: 2_000 })).rejects.toThrow();
      await expect(store.insertToken({ ...token('h1', 'f1'), issuedAtMs: 2_000 })).rejects.toThrow();
      expect(await store.getFamily(family('f1').id)).toEqual(family('f1'));
      expect(await store.findToken(token('h1', 'f1').tokenHash)).toEqual(token('h1', 'f1'));
    });

    it('markUsed is a compare-and-set', async () => {
      const store = await createStore();
      const { family, token } = scope();
      await store.createFamily(family('f1'));
      await store.insertToken(token('h1', 'f1'));
      const hash = token('h1', 'f1').tokenHash;
      const results = await Promise.all([store.markUsed(hash, 2_000), store.markUsed(hash, 2_001)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect([2_000, 2_001]).toContain((await store.findToken(hash))?.usedAtMs);
      expect(await store.markUsed(hash, 3_000)).toBe(false);
      expect(await store.markUsed(token('nope', 'f1').tokenHash, 2_000)).toBe(false);
    });

    it('revokes a family once, and all live families of a user', async () => {
      const store = await createStore();
      const { family } = scope();
      await store.createFamily(family('f1'));
      await store.createFamily(family('f2'));
      await store.createFamily(family('f3', 'usr_2'));
      expect(await store.revokeFamily(family('f1').id, 3_000, 'logout')).toBe(true);
      expect(await store.revokeFamily(family('f1').id, 3_001, 'admin')).toBe(false);
      expect(await store.getFamily(family('f1').id)).toMatchObject({ revokedAtMs: 3_000, revokeReason: 'logout' });
      expect(await store.revokeFamiliesOfUser(family('f1').userId, 4_000, 'password_changed')).toEqual([family('f2').id]);
      expect(await store.getFamily(family('f2').id)).toMatchObject({ revokedAtMs: 4_000, revokeReason: 'password_changed' });
      expect((await store.getFamily(family('f3', 'usr_2').id))?.revokedAtMs).toBeNull();
      expect(await store.revokeFamily(family('nope').id, 3_000, 'logout')).toBe(false);
    });
  });
}
