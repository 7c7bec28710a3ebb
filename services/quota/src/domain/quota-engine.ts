import { invalidArgument } from '#libs/errors/index.ts';
import { calendarWindow } from './calendar-window.ts';
import { limitKey, type Limit } from './limits.ts';
import { metricSpec, periodMs } from './metrics.ts';
import { newBucket, refill, waitMs, type Bucket } from './token-bucket.ts';

export interface Clock {
  nowMs(): number;
}

/** One level of an account path, root first: the limits set on that account (not inherited). */
export interface PathLevel {
  accountId: string;
  limits: readonly Limit[];
}

export interface ConsumeResult {
  allowed: boolean;
  /** Smallest headroom left across the levels that limit this metric (-1: unlimited). */
  remaining: number;
  resetAfterMs: number;
  /** The limit value at the level that said no (or the tightest level when allowed; -1: none). */
  limit: number;
  limitingAccountId: string;
  /** Allowed only because the refusing limit is in shadow mode. */
  shadowed: boolean;
}

export interface LeaseResult {
  granted: number;
  limitingAccountId: string;
  retryAfterMs: number;
  volumeExhausted: boolean;
  /** Ask for more when the local budget falls below this. */
  refillBelow: number;
}

/** Persistence hook for volume counters (they survive restarts; buckets may refill, see README). */
export interface VolumeSink {
  add(accountId: string, metric: string, windowStartMs: number, amount: number): void;
}

interface Check {
  accountId: string;
  limit: Limit;
  headroom: number;
  waitMs: number;
  commit: (amount: number) => void;
}

const UNLIMITED: ConsumeResult = { allowed: true, remaining: -1, resetAfterMs: 0, limit: -1, limitingAccountId: '', shadowed: false };

/**
 * The quota engine: rate buckets, calendar volume counters and concurrency slots for every level of
 * an account path, checked and committed together — a refused consume changes no counter at any
 * level (the multi-limit bug of unkey#1995 is exactly a partial commit).
 */
export class QuotaEngine {
  private readonly clock: Clock;
  private readonly buckets = new Map<string, Bucket>();
  private readonly volumes = new Map<string, { windowStartMs: number; used: number }>();
  private readonly slots = new Map<string, { path: string[]; metric: string; expiresAtMs: number }>();
  private readonly slotCounts = new Map<string, number>();
  private readonly idempotent = new Map<string, { result: ConsumeResult; expiresAtMs: number }>();
  private readonly edges = new Map<string, Map<string, number>>();
  private readonly volumeSink: VolumeSink | undefined;

  constructor(options: { clock: Clock; volumeSink?: VolumeSink }) {
    this.clock = options.clock;
    this.volumeSink = options.volumeSink;
  }

  /** Restores a persisted volume counter (at start). */
  restoreVolume(accountId: string, metric: string, windowStartMs: number, used: number): void {
    const key = `${accountId}|${metric}`;
    const current = this.volumes.get(key);
    if (!current || current.windowStartMs < windowStartMs) this.volumes.set(key, { windowStartMs, used });
    else if (current.windowStartMs === windowStartMs) current.used = Math.max(current.used, used);
  }

  private checksFor(path: readonly PathLevel[], metric: string, now: number): Check[] {
    const checks: Check[] = [];
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
          checks.push({ accountId: level.accountId, limit, headroom: Math.floor(b.tokens), waitMs: 0, commit: (n) => (b.tokens -= n) });
          checks[checks.length - 1]!.waitMs = waitMs(b, 1, ratePerMs);
        } else if (limit.kind === 'volume') {
          const window = calendarWindow(limit.period as 'day' | 'month', now);
          const key = `${level.accountId}|${metric}`;
          let counter = this.volumes.get(key);
          if (!counter || counter.windowStartMs !== window.startMs) this.volumes.set(key, (counter = { windowStartMs: window.startMs, used: 0 }));
          const c = counter;
          checks.push({
            accountId: level.accountId,
            limit,
            headroom: limit.value - c.used,
            waitMs: window.endMs - now,
            commit: (n) => {
              c.used += n;
              this.volumeSink?.add(level.accountId, metric, window.startMs, n);
            },
          });
        }
      }
    }
    return checks;
  }

  consume(input: { path: readonly PathLevel[]; metric: string; amount: number; idempotencyKey?: string | undefined }): ConsumeResult {
    metricSpec(input.metric);
    if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw invalidArgument('amount', 'must be a whole number ≥ 1');
    const now = this.clock.nowMs();
    if (input.idempotencyKey) {
      const seen = this.idempotent.get(input.idempotencyKey);
      if (seen && seen.expiresAtMs > now) return seen.result;
    }
    const checks = this.checksFor(input.path, input.metric, now);
    const result = this.decide(checks, input.amount);
    if (input.idempotencyKey) {
      if (this.idempotent.size > 100_000) this.pruneIdempotency(now);
      this.idempotent.set(input.idempotencyKey, { result, expiresAtMs: now + 24 * 3_600_000 });
    }
    return result;
  }

  /**
   * Several consumes decided together: when any is refused, none is counted (Envoy's descriptors of
   * one request). Each is checked on its own path; they should name different accounts or metrics.
   */
  consumeAll(inputs: readonly { path: readonly PathLevel[]; metric: string; amount: number }[]): ConsumeResult[] {
    const now = this.clock.nowMs();
    const planned = inputs.map((input, i) => {
      metricSpec(input.metric, `descriptors[${i}].metric`);
      if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw invalidArgument(`descriptors[${i}].hits_addend`, 'must be a whole number ≥ 1');
      return { input, checks: this.checksFor(input.path, input.metric, now) };
    });
    const refused = planned.some((p) => p.checks.some((c) => !c.limit.shadow && c.headroom < p.input.amount));
    if (refused) {
      return planned.map((p) => {
        const no = p.checks.filter((c) => !c.limit.shadow && c.headroom < p.input.amount).at(-1);
        if (no) return { allowed: false, remaining: Math.max(0, no.headroom), resetAfterMs: no.waitMs, limit: no.limit.value, limitingAccountId: no.accountId, shadowed: false };
        const tightest = p.checks.length ? p.checks.reduce((a, b) => (b.headroom < a.headroom ? b : a)) : undefined;
        return tightest ? { allowed: true, remaining: tightest.headroom, resetAfterMs: tightest.waitMs, limit: tightest.limit.value, limitingAccountId: tightest.accountId, shadowed: false } : UNLIMITED;
      });
    }
    return planned.map((p) => this.decide(p.checks, p.input.amount));
  }

  private decide(checks: Check[], amount: number): ConsumeResult {
    if (checks.length === 0) return UNLIMITED;
    // Check every level first; commit only when every enforcing level says yes.
    const refusing = checks.filter((c) => c.headroom < amount);
    const enforcing = refusing.filter((c) => !c.limit.shadow);
    const tightest = checks.reduce((a, b) => (b.headroom < a.headroom ? b : a));
    if (enforcing.length > 0) {
      const no = enforcing[enforcing.length - 1]!; // the deepest level that said no
      return { allowed: false, remaining: Math.max(0, no.headroom), resetAfterMs: no.waitMs, limit: no.limit.value, limitingAccountId: no.accountId, shadowed: false };
    }
    for (const c of checks) c.commit(amount);
    return {
      allowed: true,
      remaining: Math.max(0, tightest.headroom - amount),
      resetAfterMs: tightest.waitMs,
      limit: tightest.limit.value,
      limitingAccountId: tightest.accountId,
      shadowed: refusing.length > 0,
    };
  }

  /**
   * A local budget for an edge, reserved at every level now (so N edges can never together go over
   * a limit; what an edge leaves unspent is lost to the window, which small leases keep small).
   * The size adapts: at most a quarter of the tightest headroom divided among the edges leasing it.
   */
  lease(input: { path: readonly PathLevel[]; metric: string; want: number; edgeId: string }): LeaseResult {
    metricSpec(input.metric);
    if (!Number.isSafeInteger(input.want) || input.want < 1) throw invalidArgument('want', 'must be a whole number ≥ 1');
    const now = this.clock.nowMs();
    const leaf = input.path[input.path.length - 1]?.accountId ?? '';
    const edgeKey = `${leaf}|${input.metric}`;
    const holders = this.edges.get(edgeKey) ?? new Map<string, number>();
    holders.set(input.edgeId, now);
    for (const [edge, at] of holders) if (now - at > 30_000) holders.delete(edge);
    this.edges.set(edgeKey, holders);
    const checks = this.checksFor(input.path, input.metric, now).filter((c) => !c.limit.shadow);
    // No limit anywhere on the path: grant it all, and ask for more at half (never an empty budget).
    if (checks.length === 0) return { granted: input.want, limitingAccountId: '', retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.ceil(input.want / 2) };
    const tightest = checks.reduce((a, b) => (b.headroom < a.headroom ? b : a));
    const fairShare = Math.max(1, Math.floor(Math.max(0, tightest.headroom) / (4 * holders.size)));
    const granted = Math.max(0, Math.min(input.want, fairShare, tightest.headroom));
    if (granted === 0) {
      return { granted: 0, limitingAccountId: tightest.accountId, retryAfterMs: tightest.waitMs, volumeExhausted: tightest.limit.kind === 'volume', refillBelow: 0 };
    }
    for (const c of checks) c.commit(granted);
    for (const c of this.checksFor(input.path, input.metric, now).filter((x) => x.limit.shadow)) c.commit(granted);
    return { granted, limitingAccountId: tightest.accountId, retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.max(1, Math.floor(granted / 4)) };
  }

  /** A concurrency slot at every level of the path, or none at all. */
  acquireSlot(input: { path: readonly PathLevel[]; metric: string; slotId: string; ttlMs: number }): { allowed: boolean; limitingAccountId: string } {
    const spec = metricSpec(input.metric);
    if (!spec.kinds.includes('concurrency')) throw invalidArgument('metric', `${input.metric} is not a concurrency metric`);
    const now = this.clock.nowMs();
    this.reapSlots(now);
    for (let i = input.path.length - 1; i >= 0; i--) {
      const level = input.path[i]!;
      const limit = level.limits.find((l) => l.metric === input.metric && l.kind === 'concurrency' && l.value >= 0 && !l.shadow);
      if (limit && (this.slotCounts.get(`${level.accountId}|${input.metric}`) ?? 0) >= limit.value) return { allowed: false, limitingAccountId: level.accountId };
    }
    const ids = input.path.map((l) => l.accountId);
    this.slots.set(input.slotId, { path: ids, metric: input.metric, expiresAtMs: now + input.ttlMs });
    for (const id of ids) this.slotCounts.set(`${id}|${input.metric}`, (this.slotCounts.get(`${id}|${input.metric}`) ?? 0) + 1);
    return { allowed: true, limitingAccountId: '' };
  }

  /** Extends live slots; answers the ids that had already expired. */
  renewSlots(slotIds: readonly string[], ttlMs: number): string[] {
    const now = this.clock.nowMs();
    this.reapSlots(now);
    const expired: string[] = [];
    for (const id of slotIds) {
      const slot = this.slots.get(id);
      if (slot) slot.expiresAtMs = now + ttlMs;
      else expired.push(id);
    }
    return expired;
  }

  releaseSlot(slotId: string): void {
    const slot = this.slots.get(slotId);
    if (!slot) return;
    this.slots.delete(slotId);
    for (const id of slot.path) this.slotCounts.set(`${id}|${slot.metric}`, Math.max(0, (this.slotCounts.get(`${id}|${slot.metric}`) ?? 1) - 1));
  }

  slotCount(accountId: string, metric: string): number {
    this.reapSlots(this.clock.nowMs());
    return this.slotCounts.get(`${accountId}|${metric}`) ?? 0;
  }

  volumeUsed(accountId: string, metric: string): number {
    return this.volumes.get(`${accountId}|${metric}`)?.used ?? 0;
  }

  private reapSlots(now: number): void {
    for (const [id, slot] of this.slots) if (slot.expiresAtMs <= now) this.releaseSlot(id);
  }

  private pruneIdempotency(now: number): void {
    for (const [key, entry] of this.idempotent) if (entry.expiresAtMs <= now) this.idempotent.delete(key);
    if (this.idempotent.size > 100_000) this.idempotent.clear();
  }
}
