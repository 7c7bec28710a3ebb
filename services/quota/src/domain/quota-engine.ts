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
  /** The counter this check reads and commits to (several requests' checks may share one). */
  counter: string;
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
  /** Single slots (count 1) and edges' blocks (count n), by slot id. */
  private readonly slots = new Map<string, { path: string[]; metric: string; count: number; expiresAtMs: number; blocksKey: string | undefined }>();
  private readonly slotCounts = new Map<string, number>();
  /** Block ids per (leaf account, metric): how many edges share that account's headroom. */
  private readonly blocks = new Map<string, Set<string>>();
  private nextReapMs = 0;
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
          checks.push({ accountId: level.accountId, counter: `rate:${key}`, limit, headroom: Math.floor(b.tokens), waitMs: 0, commit: (n) => (b.tokens -= n) });
          checks[checks.length - 1]!.waitMs = waitMs(b, 1, ratePerMs);
        } else if (limit.kind === 'volume') {
          const window = calendarWindow(limit.period as 'day' | 'month', now);
          const key = `${level.accountId}|${metric}`;
          let counter = this.volumes.get(key);
          if (!counter || counter.windowStartMs !== window.startMs) this.volumes.set(key, (counter = { windowStartMs: window.startMs, used: 0 }));
          const c = counter;
          checks.push({
            accountId: level.accountId,
            counter: `volume:${key}`,
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
   * one request). Descriptors can share a counter (the same account and metric twice, or two
   * subaccounts under one limited parent): their amounts add up there, so the request is refused
   * when the sum does not fit, and `remaining` counts what the earlier descriptors took.
   */
  consumeAll(inputs: readonly { path: readonly PathLevel[]; metric: string; amount: number }[]): ConsumeResult[] {
    const now = this.clock.nowMs();
    const planned = inputs.map((input, i) => {
      metricSpec(input.metric, `descriptors[${i}].metric`);
      if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw invalidArgument(`descriptors[${i}].hits_addend`, 'must be a whole number ≥ 1');
      return { input, checks: this.checksFor(input.path, input.metric, now) };
    });
    const demand = new Map<string, number>();
    for (const p of planned) for (const c of p.checks) demand.set(c.counter, (demand.get(c.counter) ?? 0) + p.input.amount);
    const short = (c: Check) => !c.limit.shadow && c.headroom < demand.get(c.counter)!;
    if (planned.some((p) => p.checks.some(short))) {
      return planned.map((p) => {
        const no = p.checks.filter(short).at(-1); // the deepest level that said no
        if (no) return { allowed: false, remaining: Math.max(0, no.headroom), resetAfterMs: no.waitMs, limit: no.limit.value, limitingAccountId: no.accountId, shadowed: false };
        const tightest = p.checks.length ? p.checks.reduce((a, b) => (b.headroom < a.headroom ? b : a)) : undefined;
        return tightest ? { allowed: true, remaining: Math.max(0, tightest.headroom), resetAfterMs: tightest.waitMs, limit: tightest.limit.value, limitingAccountId: tightest.accountId, shadowed: false } : UNLIMITED;
      });
    }
    const taken = new Map<string, number>();
    return planned.map(({ input, checks }) => {
      if (checks.length === 0) return UNLIMITED;
      let tightest = checks[0]!;
      let least = Infinity;
      let shadowed = false;
      for (const c of checks) {
        const left = c.headroom - (taken.get(c.counter) ?? 0);
        if (left < input.amount) shadowed = true; // only a shadow limit can be short here
        if (left < least) [least, tightest] = [left, c];
      }
      for (const c of checks) {
        c.commit(input.amount);
        taken.set(c.counter, (taken.get(c.counter) ?? 0) + input.amount);
      }
      return { allowed: true, remaining: Math.max(0, least - input.amount), resetAfterMs: tightest.waitMs, limit: tightest.limit.value, limitingAccountId: tightest.accountId, shadowed };
    });
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

  /**
   * A concurrency slot at every level of the path, or none at all. Acquiring a slot id that is
   * already held renews it (a retried call counts once).
   */
  acquireSlot(input: { path: readonly PathLevel[]; metric: string; slotId: string; ttlMs: number }): { allowed: boolean; limitingAccountId: string } {
    this.concurrencyMetric(input.metric);
    const now = this.clock.nowMs();
    this.reapSlots(now);
    const held = this.liveSlot(input.slotId, now);
    if (held) {
      held.expiresAtMs = now + input.ttlMs;
      return { allowed: true, limitingAccountId: '' };
    }
    const full = this.concurrencyHeadroom(input.path, input.metric).find((c) => c.headroom < 1);
    if (full) return { allowed: false, limitingAccountId: full.accountId };
    this.holdSlots(input.slotId, input.path, input.metric, 1, now + input.ttlMs, undefined);
    return { allowed: true, limitingAccountId: '' };
  }

  /**
   * Sets the size of a block of slots one edge holds for one account: `held` slots (open
   * connections, always kept — they exist whatever the limit says now) plus up to `want` more,
   * reserved at every level like single slots, so edges together never hold more than a limit
   * allows. What is granted of `want` is at most a fair share of the tightest headroom (a quarter
   * of it, divided among the blocks on the same account) and at least one slot while any headroom
   * is left. Idempotent: the block's previous size is given back before the new one is taken.
   */
  leaseSlots(input: { path: readonly PathLevel[]; metric: string; slotId: string; held: number; want: number; ttlMs: number }): { granted: number; limitingAccountId: string; limited: boolean } {
    this.concurrencyMetric(input.metric);
    if (!Number.isSafeInteger(input.held) || input.held < 0) throw invalidArgument('held', 'must be a whole number ≥ 0');
    if (!Number.isSafeInteger(input.want) || input.want < 0) throw invalidArgument('want', 'must be a whole number ≥ 0');
    const now = this.clock.nowMs();
    this.reapSlots(now);
    this.releaseSlot(input.slotId);
    const levels = this.concurrencyHeadroom(input.path, input.metric);
    const leaf = input.path[input.path.length - 1]?.accountId ?? '';
    const blocksKey = `${leaf}|${input.metric}`;
    let extra = input.want;
    let limitingAccountId = '';
    if (levels.length > 0 && input.want > 0) {
      const tightest = levels.reduce((a, b) => (b.headroom < a.headroom ? b : a));
      const free = tightest.headroom - input.held;
      const sharing = (this.blocks.get(blocksKey)?.size ?? 0) + 1;
      extra = free <= 0 ? 0 : Math.min(input.want, free, Math.max(1, Math.floor(free / (4 * sharing))));
      if (extra < input.want) limitingAccountId = tightest.accountId;
    }
    const granted = input.held + extra;
    if (granted > 0) this.holdSlots(input.slotId, input.path, input.metric, granted, now + input.ttlMs, blocksKey);
    return { granted, limitingAccountId, limited: levels.length > 0 };
  }

  /** Extends live slots and blocks; answers the ids that had already expired. */
  renewSlots(slotIds: readonly string[], ttlMs: number): string[] {
    const now = this.clock.nowMs();
    this.reapSlots(now);
    const expired: string[] = [];
    for (const id of slotIds) {
      const slot = this.liveSlot(id, now);
      if (slot) slot.expiresAtMs = now + ttlMs;
      else expired.push(id);
    }
    return expired;
  }

  /** Gives back a slot, or a whole block. */
  releaseSlot(slotId: string): void {
    const slot = this.slots.get(slotId);
    if (!slot) return;
    this.slots.delete(slotId);
    if (slot.blocksKey !== undefined) {
      const blocks = this.blocks.get(slot.blocksKey);
      blocks?.delete(slotId);
      if (blocks?.size === 0) this.blocks.delete(slot.blocksKey);
    }
    for (const id of slot.path) {
      const key = `${id}|${slot.metric}`;
      const left = (this.slotCounts.get(key) ?? 0) - slot.count;
      if (left > 0) this.slotCounts.set(key, left);
      else this.slotCounts.delete(key);
    }
  }

  slotCount(accountId: string, metric: string): number {
    this.reapSlots(this.clock.nowMs());
    return this.slotCounts.get(`${accountId}|${metric}`) ?? 0;
  }

  volumeUsed(accountId: string, metric: string): number {
    return this.volumes.get(`${accountId}|${metric}`)?.used ?? 0;
  }

  private concurrencyMetric(metric: string): void {
    if (!metricSpec(metric).kinds.includes('concurrency')) throw invalidArgument('metric', `${metric} is not a concurrency metric`);
  }

  /** Headroom of every level that enforces a concurrency limit on this metric, leaf first. */
  private concurrencyHeadroom(path: readonly PathLevel[], metric: string): { accountId: string; headroom: number }[] {
    const out: { accountId: string; headroom: number }[] = [];
    for (let i = path.length - 1; i >= 0; i--) {
      const level = path[i]!;
      const limit = level.limits.find((l) => l.metric === metric && l.kind === 'concurrency' && l.value >= 0 && !l.shadow);
      if (limit) out.push({ accountId: level.accountId, headroom: limit.value - (this.slotCounts.get(`${level.accountId}|${metric}`) ?? 0) });
    }
    return out;
  }

  private holdSlots(slotId: string, path: readonly PathLevel[], metric: string, count: number, expiresAtMs: number, blocksKey: string | undefined): void {
    const ids = path.map((l) => l.accountId);
    this.slots.set(slotId, { path: ids, metric, count, expiresAtMs, blocksKey });
    for (const id of ids) this.slotCounts.set(`${id}|${metric}`, (this.slotCounts.get(`${id}|${metric}`) ?? 0) + count);
    if (blocksKey !== undefined) {
      let blocks = this.blocks.get(blocksKey);
      if (!blocks) this.blocks.set(blocksKey, (blocks = new Set()));
      blocks.add(slotId);
    }
  }

  /** The slot, unless it has expired (then it is released now). */
  private liveSlot(slotId: string, now: number) {
    const slot = this.slots.get(slotId);
    if (slot && slot.expiresAtMs <= now) {
      this.releaseSlot(slotId);
      return undefined;
    }
    return slot;
  }

  /** Expired slots and blocks go back; at most once a second (a scan of every slot). */
  private reapSlots(now: number): void {
    if (now < this.nextReapMs) return;
    this.nextReapMs = now + 1_000;
    for (const [id, slot] of this.slots) if (slot.expiresAtMs <= now) this.releaseSlot(id);
  }

  private pruneIdempotency(now: number): void {
    for (const [key, entry] of this.idempotent) if (entry.expiresAtMs <= now) this.idempotent.delete(key);
    if (this.idempotent.size > 100_000) this.idempotent.clear();
  }
}
