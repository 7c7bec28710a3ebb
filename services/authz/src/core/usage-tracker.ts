import type { TokenStore } from '../domain/token-record.ts';

/**
 * Last-use times for sliding TTLs: remembered in memory on each use, written in batches by
 * `flushUsage()` (one write per flush, not one per decision).
 */
export function createUsageTracker(options: { store: TokenStore; now: () => number }) {
  const used = new Set<string>();

  function markUsed(tokenId: string): void {
    used.add(tokenId);
  }

  /** Writes last-use times for sliding TTLs in one batch. */
  async function flushUsage(): Promise<void> {
    if (used.size === 0) return;
    const ids = [...used];
    used.clear();
    await options.store.touch(ids, options.now());
  }

  return { markUsed, flushUsage };
}

export type UsageTracker = ReturnType<typeof createUsageTracker>;
