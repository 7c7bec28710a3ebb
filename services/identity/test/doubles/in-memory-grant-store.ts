import type { GrantStore } from '../../src/domain/ports.ts';
import type { Permission } from '../../src/domain/resource-access.ts';

/** `GrantStore` in maps, for unit tests and the contract suite. */
export class InMemoryGrantStore implements GrantStore {
  readonly #restricted = new Map<string, boolean>();
  readonly #grants = new Map<string, Map<string, Permission>>();

  async restricted(accountId: string, resourceId: string): Promise<boolean> {
    return this.#restricted.get(`${accountId}|${resourceId}`) ?? false;
  }

  async setRestricted(accountId: string, resourceId: string, restricted: boolean): Promise<void> {
    this.#restricted.set(`${accountId}|${resourceId}`, restricted);
  }

  async grant(accountId: string, resourceId: string, userId: string, permission: Permission): Promise<void> {
    const key = `${accountId}|${resourceId}`;
    const onResource = this.#grants.get(key) ?? new Map<string, Permission>();
    onResource.set(userId, permission);
    this.#grants.set(key, onResource);
  }

  async revoke(accountId: string, resourceId: string, userId: string): Promise<void> {
    this.#grants.get(`${accountId}|${resourceId}`)?.delete(userId);
  }

  async list(accountId: string, resourceId: string): Promise<{ userId: string; permission: Permission }[]> {
    return [...(this.#grants.get(`${accountId}|${resourceId}`) ?? [])].map(([userId, permission]) => ({ userId, permission }));
  }
}
