import type { LRUCache } from 'lru-cache';
import { boundedCache } from '#libs/cache/bounded-cache.ts';
import type { ConsumeResult } from './consume-decision.ts';

const DAY_MS = 24 * 3_600_000;

/**
 * Results of consumes by idempotency key, for a day: a retried consume is answered, not counted
 * again. At most `max` keys (the least recently used go first); expiry follows the engine's clock.
 */
export class IdempotencyCache {
  private readonly entries: LRUCache<string, { result: ConsumeResult; expiresAtMs: number }>;

  constructor(max = 100_000) {
    this.entries = boundedCache(max);
  }

  get(key: string, now: number): ConsumeResult | undefined {
    const seen = this.entries.get(key);
    return seen && seen.expiresAtMs > now ? seen.result : undefined;
  }

  set(key: string, result: ConsumeResult, now: number): void {
    this.entries.set(key, { result, expiresAtMs: now + DAY_MS });
  }
}
