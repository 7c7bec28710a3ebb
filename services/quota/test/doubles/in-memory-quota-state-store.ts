import type { QuotaStateStore, VolumeCount } from '../../src/domain/ports.ts';

/** `QuotaStateStore` in a map, for unit tests and the contract suite. */
export class InMemoryQuotaStateStore implements QuotaStateStore {
  readonly #counters = new Map<string, VolumeCount>();

  async addVolume(entries: readonly { accountId: string; metric: string; windowStartMs: number; amount: number }[]): Promise<void> {
    for (const e of entries) {
      const key = `${e.accountId}|${e.metric}|${e.windowStartMs}`;
      const counter = this.#counters.get(key) ?? { accountId: e.accountId, metric: e.metric, windowStartMs: e.windowStartMs, used: 0 };
      counter.used += e.amount;
      this.#counters.set(key, counter);
    }
  }

  async volumesSince(windowStartMs: number): Promise<VolumeCount[]> {
    return [...this.#counters.values()].filter((c) => c.windowStartMs >= windowStartMs).map((c) => ({ ...c }));
  }
}
