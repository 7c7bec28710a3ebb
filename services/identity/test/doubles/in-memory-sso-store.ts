import { alreadyExists } from '#libs/errors/index.ts';
import type { SsoConnectionRecord, SsoStore } from '../../src/domain/ports.ts';

/** `SsoStore` in maps, for unit tests and the contract suite. */
export class InMemorySsoStore implements SsoStore {
  readonly #connections = new Map<string, SsoConnectionRecord>();
  readonly #links: { connectionId: string; upstreamSubject: string; userId: string; createdAtMs: number }[] = [];

  async insert(connection: SsoConnectionRecord): Promise<void> {
    if (this.#connections.has(connection.id)) throw alreadyExists('id', 'an SSO connection with this id');
    this.#connections.set(connection.id, { ...connection });
  }

  async get(id: string): Promise<SsoConnectionRecord | undefined> {
    const c = this.#connections.get(id);
    return c && { ...c };
  }

  async listByAccounts(accountIds: readonly string[]): Promise<SsoConnectionRecord[]> {
    return [...this.#connections.values()]
      .filter((c) => accountIds.includes(c.accountId))
      .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((c) => ({ ...c }));
  }

  async delete(id: string): Promise<boolean> {
    for (let i = this.#links.length - 1; i >= 0; i--) if (this.#links[i]!.connectionId === id) this.#links.splice(i, 1);
    return this.#connections.delete(id);
  }

  async linkedUser(connectionId: string, upstreamSubject: string): Promise<string | undefined> {
    return this.#links.find((l) => l.connectionId === connectionId && l.upstreamSubject === upstreamSubject)?.userId;
  }

  async subjectOf(connectionId: string, userId: string): Promise<string | undefined> {
    return this.#links.find((l) => l.connectionId === connectionId && l.userId === userId)?.upstreamSubject;
  }

  async link(connectionId: string, upstreamSubject: string, userId: string, atMs: number): Promise<void> {
    if (!this.#connections.has(connectionId)) throw new Error(`SSO connection ${connectionId} does not exist`);
    if (this.#links.some((l) => l.connectionId === connectionId && (l.upstreamSubject === upstreamSubject || l.userId === userId))) {
      throw alreadyExists('upstream_subject', 'a link of this subject or user through this connection');
    }
    this.#links.push({ connectionId, upstreamSubject, userId, createdAtMs: atMs });
  }
}
