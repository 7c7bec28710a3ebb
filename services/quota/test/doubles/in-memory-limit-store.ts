import type { Limit } from '../../src/domain/limits.ts';
import type { LimitStore } from '../../src/domain/ports.ts';

/** `LimitStore` in a map, for unit tests and the contract suite. */
export class InMemoryLimitStore implements LimitStore {
  readonly #limits = new Map<string, Map<string, Limit>>();

  async limitsOf(accountIds: readonly string[]): Promise<Map<string, Limit[]>> {
    return new Map(accountIds.map((id) => [id, [...(this.#limits.get(id)?.values() ?? [])].map((l) => ({ ...l }))]));
  }

  async setLimits(accountId: string, limits: readonly Limit[]): Promise<void> {
    const own = this.#limits.get(accountId) ?? new Map<string, Limit>();
    for (const l of limits) own.set(`${l.metric}|${l.kind}`, { ...l });
    this.#limits.set(accountId, own);
  }
}
