import type { UsageRow, UsageStore } from '../../src/domain/ports.ts';

/** `UsageStore` in maps, for unit tests and the contract suite. */
export class InMemoryUsageStore implements UsageStore {
  readonly #rows = new Map<string, UsageRow>();
  readonly #batches = new Set<string>();

  async applyUsageBatch(batchId: string, _edgeId: string, rows: readonly UsageRow[]): Promise<boolean> {
    if (this.#batches.has(batchId)) return false;
    this.#batches.add(batchId);
    for (const r of rows) {
      const key = `${r.accountId}|${r.metric}|${r.minuteMs}`;
      const row = this.#rows.get(key) ?? { accountId: r.accountId, metric: r.metric, minuteMs: r.minuteMs, own: 0, subtree: 0 };
      row.own += r.own;
      row.subtree += r.subtree;
      this.#rows.set(key, row);
    }
    return true;
  }

  async usage(accountId: string, metric: string, fromMs: number, toMs: number): Promise<UsageRow[]> {
    return [...this.#rows.values()]
      .filter((r) => r.accountId === accountId && r.metric === metric && r.minuteMs >= fromMs && r.minuteMs < toMs)
      .sort((a, b) => a.minuteMs - b.minuteMs)
      .map((r) => ({ ...r }));
  }
}
