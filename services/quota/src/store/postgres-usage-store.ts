import { and, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '#libs/db/index.ts';
import type { UsageRow, UsageStore } from '../domain/ports.ts';
import { appliedBatches, usageMinute } from './quota-schema.ts';

/** Usage rollups in `quota.usage_minute`, batch ids in `quota.applied_batches` (Postgres or PGlite). */
export class PostgresUsageStore implements UsageStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async applyUsageBatch(batchId: string, edgeId: string, rows: readonly UsageRow[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.insert(appliedBatches).values({ batchId, edgeId }).onConflictDoNothing().returning({ batchId: appliedBatches.batchId });
      if (inserted.length === 0) return false;
      if (rows.length === 0) return true;
      await tx
        .insert(usageMinute)
        .values(rows.map((r) => ({ accountId: r.accountId, metric: r.metric, minute: new Date(r.minuteMs), own: r.own, subtree: r.subtree })))
        .onConflictDoUpdate({
          target: [usageMinute.accountId, usageMinute.metric, usageMinute.minute],
          set: { own: sql`${usageMinute.own} + excluded.own`, subtree: sql`${usageMinute.subtree} + excluded.subtree` },
        });
      return true;
    });
  }

  async usage(accountId: string, metric: string, fromMs: number, toMs: number): Promise<UsageRow[]> {
    const rows = await this.db
      .select()
      .from(usageMinute)
      .where(and(eq(usageMinute.accountId, accountId), eq(usageMinute.metric, metric), gte(usageMinute.minute, new Date(fromMs)), lt(usageMinute.minute, new Date(toMs))))
      .orderBy(usageMinute.minute);
    return rows.map((r) => ({ accountId: r.accountId, metric: r.metric, minuteMs: r.minute.getTime(), own: r.own, subtree: r.subtree }));
  }
}
