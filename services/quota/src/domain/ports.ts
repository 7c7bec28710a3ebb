/**
 * Quota's storage ports. The use cases (`../quota-core.ts`) depend on these; `../store/` holds the
 * Postgres adapters (PGlite too), `../../test/doubles/` the in-memory ones, and
 * `../../test/contracts/` the suite every adapter passes.
 */
import type { Limit } from './limits.ts';

/** Limits attached to accounts (policy: written by admins, read by every consume). */
export interface LimitStore {
  /** Each asked account's own limits (an empty list when it has none), in no particular order. */
  limitsOf(accountIds: readonly string[]): Promise<Map<string, Limit[]>>;
  /** Creates or replaces the account's limit for each named (metric, kind) pair; others stay. */
  setLimits(accountId: string, limits: readonly Limit[]): Promise<void>;
}

/** One minute of one metric for one account: its own usage and its subtree's (itself included). */
export interface UsageRow {
  accountId: string;
  metric: string;
  minuteMs: number;
  own: number;
  subtree: number;
}

/** Per-minute usage rollups, written in batches that edges may send more than once. */
export interface UsageStore {
  /**
   * Adds the rows (summed into rows of the same account, metric and minute) unless a batch with
   * this id was applied before: true when applied now, false for a repeat. All or nothing.
   */
  applyUsageBatch(batchId: string, edgeId: string, rows: readonly UsageRow[]): Promise<boolean>;
  /** The account's rows of one metric with `fromMs ≤ minute < toMs`, oldest first. */
  usage(accountId: string, metric: string, fromMs: number, toMs: number): Promise<UsageRow[]>;
}

/** Amount used of a volume limit's metric in one calendar window. */
export interface VolumeCount {
  accountId: string;
  metric: string;
  windowStartMs: number;
  used: number;
}

/** The quota state that must survive a restart: volume counters per calendar window. */
export interface QuotaStateStore {
  /** Adds each amount to its (account, metric, window) counter; one entry per counter per call. */
  addVolume(entries: readonly { accountId: string; metric: string; windowStartMs: number; amount: number }[]): Promise<void>;
  /** Every counter whose window starts at or after `windowStartMs`. */
  volumesSince(windowStartMs: number): Promise<VolumeCount[]>;
}
