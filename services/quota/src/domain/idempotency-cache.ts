import type { ConsumeResult } from './consume-decision.ts';

/** Results of consumes by idempotency key, for a day: a retried consume is answered, not counted again. */
export class IdempotencyCache {
  private readonly entries = new Map<string, { result: ConsumeResult; expiresAtMs: number }>();

  get(key: string, now: number): ConsumeResult | undefined {
    const seen = this.entries.get(key);
    return seen && seen.expiresAtMs > now ? seen.result : undefined;
  }

  set(key: string, result: ConsumeResult, now: number): void {
    if (this.entries.size > 100_000) this.prune(now);
    this.entries.set(key, { result, expiresAtMs: now + 24 * 3_600_000 });
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAtMs <= now) this.entries.delete(key);
    if (this.entries.size > 100_000) this.entries.clear();
  }
}
