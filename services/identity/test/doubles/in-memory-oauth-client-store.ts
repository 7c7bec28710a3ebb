import { alreadyExists } from '#libs/errors/index.ts';
import type { OAuthClient } from '../../src/domain/oauth-client.ts';
import type { OAuthClientChange, OAuthClientStore } from '../../src/domain/ports.ts';

const copy = (c: OAuthClient): OAuthClient => structuredClone(c);

/** `OAuthClientStore` in a map, for unit tests and the contract suite. */
export class InMemoryOAuthClientStore implements OAuthClientStore {
  readonly #clients = new Map<string, OAuthClient>();

  async insert(client: OAuthClient): Promise<void> {
    if (this.#clients.has(client.id)) throw alreadyExists('id', 'an OAuth client with this id');
    this.#clients.set(client.id, copy(client));
  }

  async get(id: string): Promise<OAuthClient | undefined> {
    const c = this.#clients.get(id);
    return c && copy(c);
  }

  async listByAccount(accountId: string): Promise<OAuthClient[]> {
    return [...this.#clients.values()]
      .filter((c) => c.accountId === accountId)
      .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(copy);
  }

  async update(id: string, change: OAuthClientChange): Promise<OAuthClient | undefined> {
    const c = this.#clients.get(id);
    if (!c) return undefined;
    const defined = Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as OAuthClientChange;
    const next = copy({ ...c, ...defined });
    this.#clients.set(id, next);
    return copy(next);
  }

  async delete(id: string): Promise<boolean> {
    return this.#clients.delete(id);
  }
}
