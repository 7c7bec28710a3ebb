import { bigint, boolean, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { LimitKind, Period } from '../domain/metrics.ts';

/** The `quota` schema's tables (migrations/ is the source of truth; this mirrors it for queries). */
const quota = pgSchema('quota');

export const limits = quota.table(
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

export const usageMinute = quota.table(
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

export const volumeCounters = quota.table(
  'volume_counters',
  {
    accountId: text('account_id').notNull(),
    metric: text('metric').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    used: bigint('used', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.metric, t.windowStart] })],
);

export const appliedBatches = quota.table('applied_batches', {
  batchId: text('batch_id').primaryKey(),
  edgeId: text('edge_id').notNull(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});
