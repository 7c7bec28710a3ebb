/**
 * The contract every `SigningKeyStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case's keys carry its own kid tag; listings are
 * looked at for those kids only.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SigningKeyStore, StoredSigningKey } from '../../src/crypto/signing-key-ring.ts';

export function describeSigningKeyStoreContract(name: string, createStore: () => Promise<SigningKeyStore> | SigningKeyStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    const key = (n: number, createdAtMs: number): StoredSigningKey => ({
      kid: `kid_${tag}_${n}`,
      createdAtMs,
      retiredAtMs: null,
      publicJwk: { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url'), kid: `kid_${tag}_${n}` },
      sealedPrivateJwk: randomBytes(48).toString('base64url'),
    });
    const mine = (keys: StoredSigningKey[]) => keys.filter((k) => k.kid.startsWith(`kid_${tag}_`));
    return { key, mine };
  };

  describe.skipIf(options.skip !== undefined)(`SigningKeyStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('lists inserted keys whole, oldest first', async () => {
      const store = await createStore();
      const { key, mine } = scope();
      const [newer, older] = [key(1, 2_000_000), key(2, 1_000_000)];
      await store.insert(newer);
      await store.insert(older);
      expect(mine(await store.list())).toEqual([older, newer]);
    });

    it('refuses a second key with the same kid', async () => {
      const store = await createStore();
      const { key, mine } = scope();
      await store.insert(key(1, 1_000));
      await expect(store.insert({ ...key(1, 5_000) })).rejects.toThrow();
      expect(mine(await store.list()).map((k) => k.createdAtMs)).toEqual([1_000]);
    });

    it('retires once (the first time stays) and deletes', async () => {
      const store = await createStore();
      const { key, mine } = scope();
      await store.insert(key(1, 1_000));
      await store.insert(key(2, 2_000));
      await store.retire(key(1, 1_000).kid, 10_000);
      await store.retire(key(1, 1_000).kid, 20_000);
      await store.retire(`${key(1, 1_000).kid}_missing`, 20_000);
      expect(mine(await store.list()).map((k) => [k.kid, k.retiredAtMs])).toEqual([
        [key(1, 1_000).kid, 10_000],
        [key(2, 2_000).kid, null],
      ]);
      await store.delete(key(1, 1_000).kid);
      await store.delete(`${key(1, 1_000).kid}_missing`);
      expect(mine(await store.list()).map((k) => k.kid)).toEqual([key(2, 2_000).kid]);
    });
  });
}
