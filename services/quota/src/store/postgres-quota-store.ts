import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import { bigint, boolean, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { Db } from '#libs/db/index.ts';
import type { Limit } from '../domain/limits.ts';
import type { LimitKind, Period } from '../domain/metrics.ts';

const quota = pgSchema('quota');

const limits = quota.table(
  'limits',
  {
    accountId: text('account_id').notNull(),
    metric: text('metric').notNull(),
    kind: text('kind').$type<LimitKind>().notNull(),
    value: bigint('value', { mode: 'number' }).notNull(),
    period: text('period').$type<Period>(),
    burst: bigint('burst', { mode: 'number' }),
    shadow: boolean('shadow').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.metric, t.kind] })],
);

const usageMinute = quota.table(
  'usage_minute',
  {
    accountId: text('account_id').notNull(),
    metric: text('metric').notNull(),
    minute: timestamp('minute', { withTimezone: true }).notNull(),
    own: bigint('own', { mode: 'number' }).notNull(),
    subtree: bigint('subtree', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.metric, t.minute] })],
);

const volumeCounters = quota.table(
  'volume_counters',
  {
    accountId: text('account_id').notNull(),
    metric: text('metric').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    used: bigint('used', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.metric, t.windowStart] })],
);

const appliedBatches = quota.table('applied_batches', {
  batchId: text('batch_id').primaryKey(),
  edgeId: text('edge_id').notNull(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});

export interface UsageRow {
  accountId: string;
  metric: string;
  minuteMs: number;
  own: number;
  subtree: number;
}

/** Limits, usage rollups, volume counters and applied batch ids in the `quota` schema. */
export class PostgresQuotaStore {
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

  /** Replaces the account's limits for the named (metric, kind) pairs. */
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

  /** Applies a usage batch once: false when the batch id was seen before. Rows are upserted together. */
  async applyUsageBatch(batchId: string, edgeId: string, rows: readonly UsageRow[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.insert(appliedBatches).values({ batchId, edgeId }).onConflictDoNothing().returning({ batchId: appliedBatches.batchId });
      if (inserted.length === 0) return false;
      await upsertUsage(tx as unknown as Db, rows);
      return true;
    });
  }

  async addUsage(rows: readonly UsageRow[]): Promise<void> {
    await upsertUsage(this.db, rows);
  }

  async addVolume(entries: readonly { accountId: string; metric: string; windowStartMs: number; amount: number }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db
      .insert(volumeCounters)
      .values(entries.map((e) => ({ accountId: e.accountId, metric: e.metric, windowStart: new Date(e.windowStartMs), used: e.amount })))
      .onConflictDoUpdate({ target: [volumeCounters.accountId, volumeCounters.metric, volumeCounters.windowStart], set: { used: sql`${volumeCounters.used} + excluded.used` } });
  }

  async volumesSince(windowStartMs: number): Promise<{ accountId: string; metric: string; windowStartMs: number; used: number }[]> {
    const rows = await this.db.select().from(volumeCounters).where(gte(volumeCounters.windowStart, new Date(windowStartMs)));
    return rows.map((r) => ({ accountId: r.accountId, metric: r.metric, windowStartMs: r.windowStart.getTime(), used: r.used }));
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

async function upsertUsage(db: Db, rows: readonly UsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insert(usageMinute)
    .values(rows.map((r) => ({ accountId: r.accountId, metric: r.metric, minute: new Date(r.minuteMs), own: r.own, subtree: r.subtree })))
    .onConflictDoUpdate({
      target: [usageMinute.accountId, usageMinute.metric, usageMinute.minute],
      set: { own: sql`${usageMinute.own} + excluded.own`, subtree: sql`${usageMinute.subtree} + excluded.subtree` },
    });
}
