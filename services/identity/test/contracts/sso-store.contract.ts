/**
 * The contract every `SsoStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case makes its own connections, accounts and users.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SsoConnectionRecord, SsoStore } from '../../src/domain/ports.ts';

export function describeSsoStoreContract(name: string, createStore: () => Promise<SsoStore> | SsoStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    const oidc = (n: number, over: Partial<SsoConnectionRecord> = {}): SsoConnectionRecord => ({
      id: `sso_${tag}_${n}`,
      accountId: `acc_${tag}_a`,
      kind: 'oidc',
      name: `Upstream ${n}`,
      issuer: 'https://idp.example.com',
      clientId: 'client-1',
      sealedClientSecret: 'sealed:abc',
      samlEntryPoint: null,
      samlIdpCert: null,
      defaultRole: 'member',
      provisioning: 'invited',
      createdAtMs: 1_000 + n,
      ...over,
    });
    return { tag, oidc, acc: (n: string) => `acc_${tag}_${n}`, usr: (n: string) => `usr_${tag}_${n}` };
  };

  describe.skipIf(options.skip !== undefined)(`SsoStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('stores connections whole and lists them per accounts, oldest first', async () => {
      const store = await createStore();
      const { oidc, acc } = scope();
      const saml = oidc(1, { kind: 'saml', clientId: null, sealedClientSecret: null, samlEntryPoint: 'https://idp.example.com/sso', samlIdpCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', provisioning: 'jit', defaultRole: 'viewer', createdAtMs: 5_000 });
      const first = oidc(2, { createdAtMs: 2_000 });
      const elsewhere = oidc(3, { accountId: acc('b') });
      const other = oidc(4, { accountId: acc('c') });
      for (const c of [saml, first, elsewhere, other]) await store.insert(c);
      expect(await store.get(saml.id)).toEqual(saml);
      expect(await store.get(`${saml.id}_missing`)).toBeUndefined();
      expect((await store.listByAccounts([acc('a'), acc('b')])).map((c) => c.id)).toEqual([elsewhere.id, first.id, saml.id]);
      expect(await store.listByAccounts([])).toEqual([]);
    });

    it('links one user per subject and one subject per user, per connection', async () => {
      const store = await createStore();
      const { oidc, usr } = scope();
      const [c1, c2] = [oidc(1), oidc(2)];
      await store.insert(c1);
      await store.insert(c2);
      await store.link(c1.id, 'sub-1', usr('1'), 10_000);
      expect(await store.linkedUser(c1.id, 'sub-1')).toBe(usr('1'));
      expect(await store.subjectOf(c1.id, usr('1'))).toBe('sub-1');
      await expect(store.link(c1.id, 'sub-1', usr('2'), 10_001)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(store.link(c1.id, 'sub-2', usr('1'), 10_001)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await store.link(c2.id, 'sub-1', usr('2'), 10_002); // another connection: its own subjects
      expect(await store.linkedUser(c1.id, 'sub-1')).toBe(usr('1'));
      expect(await store.linkedUser(c2.id, 'sub-1')).toBe(usr('2'));
      expect(await store.linkedUser(c1.id, 'sub-2')).toBeUndefined();
      expect(await store.subjectOf(c2.id, usr('1'))).toBeUndefined();
    });

    it('deletes a connection with its links, once', async () => {
      const store = await createStore();
      const { oidc, usr } = scope();
      const c = oidc(1);
      await store.insert(c);
      await store.link(c.id, 'sub-1', usr('1'), 10_000);
      expect(await store.delete(c.id)).toBe(true);
      expect(await store.delete(c.id)).toBe(false);
      expect(await store.get(c.id)).toBeUndefined();
      expect(await store.linkedUser(c.id, 'sub-1')).toBeUndefined();
      await store.insert(c);
      expect(await store.linkedUser(c.id, 'sub-1')).toBeUndefined(); // a new connection of that id starts unlinked
    });
  });
}
