import { calendarWindow } from './calendar-window.ts';
import { limitKey, type Limit } from './limits.ts';
import { periodMs } from './metrics.ts';
import type { PathLevel } from './path-level.ts';
import { newBucket, refill, waitMs, type Bucket } from './token-bucket.ts';

/** Persistence hook for volume counters (they survive restarts; buckets may refill, see README). */
export interface VolumeSink {
  add(accountId: string, metric: string, windowStartMs: number, amount: number): void;
}

/** One level's limit on one metric, read now: its headroom, and how to commit an amount to it. */
export interface CounterCheck {
  accountId: string;
  /** The counter this check reads and commits to (several requests' checks may share one). */
  counter: string;
  limit: Limit;
  headroom: number;
  waitMs: number;
  commit: (amount: number) => void;
  /**
   * Takes back an amount committed earlier (units an edge leased and gave back unspent): a bucket
   * never above its capacity, a volume counter never below zero. Answers what was taken back.
   */
  uncommit: (amount: number) => number;
}

/** Rate buckets (per second/minute) and calendar volume counters (per day/month), by account and metric. */
export class RateVolumeCounters {
  private readonly buckets = new Map<string, Bucket>();
  private readonly volumes = new Map<string, { windowStartMs: number; used: number }>();

  private readonly volumeSink: VolumeSink | undefined;

  constructor(volumeSink: VolumeSink | undefined) {
    this.volumeSink = volumeSink;
  }

  /** Restores a persisted volume counter (at start). */
  restoreVolume(accountId: string, metric: string, windowStartMs: number, used: number): void {
    const key = `${accountId}|${metric}`;
    const current = this.volumes.get(key);
    if (!current || current.windowStartMs < windowStartMs) this.volumes.set(key, { windowStartMs, used });
    else if (current.windowStartMs === windowStartMs) current.used = Math.max(current.used, used);
  }

  /** Every rate and volume limit on `metric` along the path, root first, refilled/rolled to `now`. */
  checksFor(path: readonly PathLevel[], metric: string, now: number): CounterCheck[] {
    const checks: CounterCheck[] = [];
    for (const level of path) {
      for (const limit of level.limits) {
        if (limit.metric !== metric || limit.value < 0) continue;
        if (limit.kind === 'rate') {
          const capacity = limit.burst ?? limit.value;
          const ratePerMs = limit.value / periodMs[limit.period as 'second' | 'minute'];
          const key = `${level.accountId}|${limitKey(metric, 'rate')}|${limit.period}`;
          let bucket = this.buckets.get(key);
          if (!bucket) this.buckets.set(key, (bucket = newBucket(capacity, now)));
          refill(bucket, capacity, ratePerMs, now);
          const b = bucket;
          const uncommit = (n: number) => {
            const back = Math.max(0, Math.min(n, capacity - b.tokens));
            b.tokens += back;
            return back;
          };
          checks.push({ accountId: level.accountId, counter: `rate:${key}`, limit, headroom: Math.floor(b.tokens), waitMs: 0, commit: (n) => (b.tokens -= n), uncommit });
          checks[checks.length - 1]!.waitMs = waitMs(b, 1, ratePerMs);
        } else if (limit.kind === 'volume') {
          const window = calendarWindow(limit.period as 'day' | 'month', now);
          const key = `${level.accountId}|${metric}`;
          let counter = this.volumes.get(key);
          if (!counter || counter.windowStartMs !== window.startMs) this.volumes.set(key, (counter = { windowStartMs: window.startMs, used: 0 }));
          const c = counter;
          checks.push({
            accountId: level.accountId,
            // The window is part of the counter: units taken in a window that is over never come back to a later one.
            counter: `volume:${key}@${window.startMs}`,
            limit,
            headroom: limit.value - c.used,
            waitMs: window.endMs - now,
            commit: (n) => {
              c.used += n;
              this.volumeSink?.add(level.accountId, metric, window.startMs, n);
            },
            uncommit: (n) => {
              const back = Math.max(0, Math.min(n, c.used));
              c.used -= back;
              if (back > 0) this.volumeSink?.add(level.accountId, metric, window.startMs, -back);
              return back;
            },
          });
        }
      }
    }
    return checks;
  }

  volumeUsed(accountId: string, metric: string): number {
    return this.volumes.get(`${accountId}|${metric}`)?.used ?? 0;
  }
}
