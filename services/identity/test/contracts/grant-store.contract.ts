/**
 * The contract every `GrantStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case works on resources and users of its own.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { GrantStore } from '../../src/domain/ports.ts';

export function describeGrantStoreContract(name: string, createStore: () => Promise<GrantStore> | GrantStore, options: { skip?: string | undefined } = {}): void {
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    return { account: `acc_${tag}`, resource: `res_${tag}`, user: (n: number) => `usr_${tag}_${n}` };
  };
  const byUser = (grants: { userId: string; permission: string }[]) => [...grants].sort((a, b) => (a.userId < b.userId ? -1 : 1));

  describe.skipIf(options.skip !== undefined)(`GrantStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('a resource is unrestricted until marked, and can be unmarked', async () => {
      const store = await createStore();
      const { account, resource } = scope();
      expect(await store.restricted(account, resource)).toBe(false);
      await store.setRestricted(account, resource, true);
      expect(await store.restricted(account, resource)).toBe(true);
      expect(await store.restricted(account, `${resource}_other`)).toBe(false);
      await store.setRestricted(account, resource, false);
      expect(await store.restricted(account, resource)).toBe(false);
    });

    it('grants, replaces a permission, lists per resource and revokes', async () => {
      const store = await createStore();
      const { account, resource, user } = scope();
      await store.grant(account, resource, user(1), 'read');
      await store.grant(account, resource, user(2), 'write');
      await store.grant(account, `${resource}_other`, user(3), 'admin');
      await store.grant(account, resource, user(1), 'admin');
      expect(byUser(await store.list(account, resource))).toEqual([
        { userId: user(1), permission: 'admin' },
        { userId: user(2), permission: 'write' },
      ]);
      await store.revoke(account, resource, user(2));
      await store.revoke(account, resource, user(9));
      expect(await store.list(account, resource)).toEqual([{ userId: user(1), permission: 'admin' }]);
      expect(await store.list(account, `${resource}_other`)).toEqual([{ userId: user(3), permission: 'admin' }]);
      expect(await store.list(`${account}_other`, resource)).toEqual([]);
    });
  });
}
