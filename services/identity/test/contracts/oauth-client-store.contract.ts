/**
 * The contract every `OAuthClientStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case registers clients of its own accounts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OAuthClient } from '../../src/domain/oauth-client.ts';
import type { OAuthClientStore } from '../../src/domain/ports.ts';

export function describeOAuthClientStoreContract(name: string, createStore: () => Promise<OAuthClientStore> | OAuthClientStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    const client = (n: number, over: Partial<OAuthClient> = {}): OAuthClient => ({
      id: `cli_${tag}_${n}`,
      accountId: `acc_${tag}_a`,
      name: `App ${n}`,
      type: 'web',
      secretHash: randomBytes(32).toString('hex'),
      redirectUris: ['https://app.example.com/cb'],
      postLogoutRedirectUris: [],
      scopes: ['openid', 'profile'],
      aclRules: null,
      aclTokenId: null,
      firstParty: false,
      idTokenAlg: 'EdDSA',
      disabled: false,
      createdAtMs: 1_000 + n,
      updatedAtMs: 1_000 + n,
      ...over,
    });
    return { client, acc: (n: string) => `acc_${tag}_${n}` };
  };

  describe.skipIf(options.skip !== undefined)(`OAuthClientStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('registers clients whole and lists an account’s oldest first', async () => {
      const store = await createStore();
      const { client, acc } = scope();
      const bound = client(1, { type: 'spa', secretHash: null, aclRules: [{ effect: 'allow', actions: ['subscribe'], resources: ['devices/#'] }], aclTokenId: 'tok_1', firstParty: true, idTokenAlg: 'ES256', createdAtMs: 9_000 });
      const older = client(2, { createdAtMs: 3_000 });
      const elsewhere = client(3, { accountId: acc('b') });
      for (const c of [bound, older, elsewhere]) await store.insert(c);
      expect(await store.get(bound.id)).toEqual(bound);
      expect(await store.get(`${bound.id}_missing`)).toBeUndefined();
      expect((await store.listByAccount(acc('a'))).map((c) => c.id)).toEqual([older.id, bound.id]);
      expect(await store.listByAccount(acc('none'))).toEqual([]);
      await expect(store.insert({ ...older, name: 'again' })).rejects.toThrow();
      expect((await store.get(older.id))?.name).toBe(older.name);
    });

    it('updates the named fields only, and deletes once', async () => {
      const store = await createStore();
      const { client } = scope();
      const c = client(1);
      await store.insert(c);
      const updated = await store.update(c.id, { name: 'Renamed', disabled: true, redirectUris: ['https://new.example.com/cb'], aclRules: [{ effect: 'deny', actions: ['publish'], resources: ['#'] }], updatedAtMs: 50_000 });
      const expected = { ...c, name: 'Renamed', disabled: true, redirectUris: ['https://new.example.com/cb'], aclRules: [{ effect: 'deny', actions: ['publish'], resources: ['#'] }], updatedAtMs: 50_000 };
      expect(updated).toEqual(expected);
      expect(await store.get(c.id)).toEqual(expected);
      expect(await store.update(c.id, { aclRules: null, aclTokenId: null, updatedAtMs: 60_000 })).toEqual({ ...expected, aclRules: null, aclTokenId: null, updatedAtMs: 60_000 });
      expect(await store.update(`${c.id}_missing`, { name: 'x', updatedAtMs: 1 })).toBeUndefined();
      expect(await store.delete(c.id)).toBe(true);
      expect(await store.delete(c.id)).toBe(false);
      expect(await store.get(c.id)).toBeUndefined();
    });
  });
}
