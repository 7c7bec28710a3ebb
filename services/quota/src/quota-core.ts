import { invalidArgument, notFound } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { calendarWindow } from './domain/calendar-window.ts';
import { assertWithinParent, effectiveLimits, validateLimit, type EffectiveLimit, type Limit } from './domain/limits.ts';
import { metricSpec } from './domain/metrics.ts';
import { QuotaEngine, type Clock, type PathLevel } from './domain/quota-engine.ts';
import type { LimitStore, QuotaStateStore, UsageRow, UsageStore } from './domain/ports.ts';

export interface AccountPaths {
  /** Account ids root first, the account last; empty when unknown. */
  pathOf(accountId: string): Promise<string[]>;
}

const MINUTE = 60_000;

/**
 * Quota's use cases: limits with inheritance and the child ≤ parent rule, tree-atomic consumes,
 * leases and slots (in this replica's memory: the authoritative counters), usage rollups and volume
 * counters persisted in batches — buffered in memory while Postgres is unreachable, written when it
 * returns, each batch once.
 */
export function createQuotaCore(deps: { limits: LimitStore; usage: UsageStore; state: QuotaStateStore; accounts: AccountPaths; clock?: Clock; logger: Logger; onLimitsWritten?: (accountId: string) => Promise<void> }) {
  const clock = deps.clock ?? { nowMs: Date.now };
  const pendingVolume: { accountId: string; metric: string; windowStartMs: number; amount: number }[] = [];
  const engine = new QuotaEngine({ clock, volumeSink: { add: (accountId, metric, windowStartMs, amount) => pendingVolume.push({ accountId, metric, windowStartMs, amount }) } });
  const paths = new Map<string, { ids: string[]; atMs: number }>();
  // Limits per account; dropped by every replica when any replica writes them (NOTIFY), and re-read
  // after 5 s at most in case a notification was missed.
  const limitCache = new Map<string, { limits: Limit[]; atMs: number }>();
  // Bumped whenever cached limits are dropped: a read that began before cannot tell old limits from
  // new, so its answer is used for its own call but not cached (it would hide the change for 5 s).
  let limitDrops = 0;
  const pendingBatches: { batchId: string; edgeId: string; rows: UsageRow[] }[] = [];
  const listeners = new Set<(event: { kind: 'changed' | 'volume_exhausted'; accountId: string; metric: string }) => void>();

  async function pathIds(accountId: string): Promise<string[]> {
    if (!accountId) throw invalidArgument('account_id', 'is required');
    const hit = paths.get(accountId);
    if (hit && clock.nowMs() - hit.atMs < 10_000) return hit.ids;
    const ids = await deps.accounts.pathOf(accountId);
    if (ids.length === 0) throw notFound('account_id', 'account');
    paths.set(accountId, { ids, atMs: clock.nowMs() });
    return ids;
  }

  async function levels(accountId: string): Promise<PathLevel[]> {
    const ids = await pathIds(accountId);
    const now = clock.nowMs();
    const missing = ids.filter((id) => {
      const hit = limitCache.get(id);
      return !hit || now - hit.atMs > 5_000;
    });
    const read = new Map<string, Limit[]>();
    if (missing.length) {
      const drops = limitDrops;
      for (const [id, limits] of await deps.limits.limitsOf(missing)) {
        read.set(id, limits);
        if (drops === limitDrops) limitCache.set(id, { limits, atMs: now });
      }
    }
    return ids.map((id) => ({ accountId: id, limits: read.get(id) ?? limitCache.get(id)?.limits ?? [] }));
  }

  async function setLimits(accountId: string, input: readonly Limit[]): Promise<Map<string, EffectiveLimit>> {
    const valid = input.map((l, i) => validateLimit(l, `limits[${i}]`));
    const path = await levels(accountId);
    const parentEffective = effectiveLimits(path.slice(0, -1));
    valid.forEach((l, i) => assertWithinParent(l, parentEffective, `limits[${i}]`));
    await deps.limits.setLimits(accountId, valid);
    limitCache.delete(accountId);
    limitDrops++;
    await deps.onLimitsWritten?.(accountId);
    for (const l of valid) for (const listen of listeners) listen({ kind: 'changed', accountId, metric: l.metric });
    return effectiveLimits(await levels(accountId));
  }

  async function getLimits(accountId: string): Promise<Map<string, EffectiveLimit>> {
    return effectiveLimits(await levels(accountId));
  }

  /** Own usage for the account, subtree usage for it and every ancestor, summed per minute. */
  function rollup(items: readonly { accountId: string; metric: string; amount: number }[], pathsById: Map<string, string[]>, nowMs: number): UsageRow[] {
    const minuteMs = Math.floor(nowMs / MINUTE) * MINUTE;
    const rows = new Map<string, UsageRow>();
    const add = (accountId: string, metric: string, own: number, subtree: number) => {
      const key = `${accountId}|${metric}`;
      const row = rows.get(key) ?? { accountId, metric, minuteMs, own: 0, subtree: 0 };
      row.own += own;
      row.subtree += subtree;
      rows.set(key, row);
    };
    for (const item of items) {
      const ids = pathsById.get(item.accountId) ?? [item.accountId];
      for (const id of ids) add(id, item.metric, id === item.accountId ? item.amount : 0, item.amount);
    }
    return [...rows.values()];
  }

  async function reportUsage(batchId: string, edgeId: string, items: readonly { accountId: string; metric: string; amount: number }[]): Promise<{ duplicate: boolean }> {
    if (!batchId || batchId.length > 128) throw invalidArgument('batch_id', 'is required (at most 128 characters)');
    items.forEach((item, i) => {
      metricSpec(item.metric, `items[${i}].metric`);
      if (!Number.isSafeInteger(item.amount) || item.amount < 0) throw invalidArgument(`items[${i}].amount`, 'must be a whole number ≥ 0');
    });
    const pathsById = new Map<string, string[]>();
    for (const item of items) if (!pathsById.has(item.accountId)) pathsById.set(item.accountId, await pathIds(item.accountId));
    const rows = rollup(items, pathsById, clock.nowMs());
    try {
      return { duplicate: !(await deps.usage.applyUsageBatch(batchId, edgeId, rows)) };
    } catch (error) {
      // Postgres unreachable: keep the batch and write it when it returns (idempotent by batch id).
      deps.logger.warn({ err: error, batchId }, 'usage batch buffered; database unavailable');
      if (!pendingBatches.some((b) => b.batchId === batchId)) pendingBatches.push({ batchId, edgeId, rows });
      return { duplicate: false };
    }
  }

  /** Writes buffered volume increments and usage batches; what fails stays buffered. */
  async function flush(): Promise<void> {
    if (pendingVolume.length) {
      const merged = new Map<string, { accountId: string; metric: string; windowStartMs: number; amount: number }>();
      for (const v of pendingVolume.splice(0)) {
        const key = `${v.accountId}|${v.metric}|${v.windowStartMs}`;
        const m = merged.get(key);
        if (m) m.amount += v.amount;
        else merged.set(key, { ...v });
      }
      try {
        await deps.state.addVolume([...merged.values()]);
      } catch (error) {
        pendingVolume.push(...merged.values());
        deps.logger.warn({ err: error }, 'volume counters buffered; database unavailable');
      }
    }
    while (pendingBatches.length) {
      const batch = pendingBatches[0]!;
      try {
        await deps.usage.applyUsageBatch(batch.batchId, batch.edgeId, batch.rows);
        pendingBatches.shift();
      } catch {
        return;
      }
    }
  }

  /** Volume counters of the current windows survive a restart. */
  async function restore(): Promise<void> {
    const since = calendarWindow('month', clock.nowMs()).startMs;
    for (const v of await deps.state.volumesSince(since)) engine.restoreVolume(v.accountId, v.metric, v.windowStartMs, v.used);
  }

  async function usageSeries(accountId: string, metric: string, fromMs: number, toMs: number, stepMs: number, subtree: boolean) {
    metricSpec(metric);
    if (toMs <= fromMs) throw invalidArgument('to', 'must be after from');
    if (stepMs < MINUTE || stepMs % MINUTE !== 0) throw invalidArgument('step_seconds', 'must be a whole number of minutes');
    if ((toMs - fromMs) / stepMs > 10_000) throw invalidArgument('step_seconds', 'at most 10000 points');
    await pathIds(accountId);
    const rows = await deps.usage.usage(accountId, metric, fromMs, toMs);
    const points = new Map<number, number>();
    for (const r of rows) {
      const at = fromMs + Math.floor((r.minuteMs - fromMs) / stepMs) * stepMs;
      points.set(at, (points.get(at) ?? 0) + (subtree ? r.subtree : r.own));
    }
    const series = [...points.entries()].sort((a, b) => a[0] - b[0]).map(([atMs, amount]) => ({ atMs, amount }));
    return { series, total: series.reduce((a, p) => a + p.amount, 0) };
  }

  /** Another replica changed this account's limits. */
  function forgetLimits(accountId: string): void {
    limitCache.delete(accountId);
    limitDrops++;
    for (const listen of listeners) listen({ kind: 'changed', accountId, metric: '' });
  }

  return {
    engine,
    levels,
    forgetLimits,
    setLimits,
    getLimits,
    reportUsage,
    flush,
    restore,
    usageSeries,
    pendingBatchCount: () => pendingBatches.length,
    onEvent(listener: (event: { kind: 'changed' | 'volume_exhausted'; accountId: string; metric: string }) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(event: { kind: 'changed' | 'volume_exhausted'; accountId: string; metric: string }) {
      for (const listen of listeners) listen(event);
    },
  };
}

export type QuotaCore = ReturnType<typeof createQuotaCore>;
