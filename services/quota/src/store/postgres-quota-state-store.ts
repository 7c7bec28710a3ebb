import { gte, sql } from 'drizzle-orm';
import type { Db } from '#libs/db/index.ts';
import type { QuotaStateStore, VolumeCount } from '../domain/ports.ts';
import { volumeCounters } from './quota-schema.ts';

/** Volume counters per calendar window in `quota.volume_counters` (Postgres or PGlite). */
export class PostgresQuotaStateStore implements QuotaStateStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async addVolume(entries: readonly { accountId: string; metric: string; windowStartMs: number; amount: number }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db
      .insert(volumeCounters)
      .values(entries.map((e) => ({ accountId: e.accountId, metric: e.metric, windowStart: new Date(e.windowStartMs), used: e.amount })))
      .onConflictDoUpdate({ target: [volumeCounters.accountId, volumeCounters.metric, volumeCounters.windowStart], set: { used: sql`${volumeCounters.used} + excluded.used` } });
  }

  async volumesSince(windowStartMs: number): Promise<VolumeCount[]> {
    const rows = await this.db.select().from(volumeCounters).where(gte(volumeCounters.windowStart, new Date(windowStartMs)));
    return rows.map((r) => ({ accountId: r.accountId, metric: r.metric, windowStartMs: r.windowStart.getTime(), used: r.used }));
  }
}
