import { inArray } from 'drizzle-orm';
import type { Db } from '#libs/db/index.ts';
import type { Limit } from '../domain/limits.ts';
import type { LimitStore } from '../domain/ports.ts';
import { limits } from './quota-schema.ts';

/** Limits in `quota.limits` (Postgres or PGlite). */
export class PostgresLimitStore implements LimitStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async limitsOf(accountIds: readonly string[]): Promise<Map<string, Limit[]>> {
    const out = new Map<string, Limit[]>(accountIds.map((id) => [id, []]));
    if (accountIds.length === 0) return out;
    const rows = await this.db.select().from(limits).where(inArray(limits.accountId, [...accountIds]));
    for (const r of rows) out.get(r.accountId)!.push({ metric: r.metric, kind: r.kind, value: r.value, period: r.period ?? undefined, burst: r.burst ?? undefined, shadow: r.shadow });
    return out;
  }

  async setLimits(accountId: string, values: readonly Limit[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const l of values) {
        await tx
          .insert(limits)
          .values({ accountId, metric: l.metric, kind: l.kind, value: l.value, period: l.period ?? null, burst: l.burst ?? null, shadow: l.shadow })
          .onConflictDoUpdate({ target: [limits.accountId, limits.metric, limits.kind], set: { value: l.value, period: l.period ?? null, burst: l.burst ?? null, shadow: l.shadow, updatedAt: new Date() } });
      }
    });
  }
}
