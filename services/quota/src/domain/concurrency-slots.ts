import type { PathLevel } from './path-level.ts';

interface Slot {
  path: string[];
  metric: string;
  count: number;
  expiresAtMs: number;
  blocksKey: string | undefined;
}

/**
 * Concurrency slots held at every level of an account path: single slots (count 1) and edges'
 * blocks (count n), by slot id, each with a TTL that its holder renews.
 */
export class ConcurrencySlots {
  private readonly slots = new Map<string, Slot>();
  private readonly slotCounts = new Map<string, number>();
  /** Block ids per (leaf account, metric): how many edges share that account's headroom. */
  private readonly blocks = new Map<string, Set<string>>();
  private nextReapMs = 0;

  /** A slot at every level of the path, or none at all. Acquiring a held slot id renews it. */
  acquire(input: { path: readonly PathLevel[]; metric: string; slotId: string; ttlMs: number }, now: number): { allowed: boolean; limitingAccountId: string } {
    this.reap(now);
    const held = this.live(input.slotId, now);
    if (held) {
      held.expiresAtMs = now + input.ttlMs;
      return { allowed: true, limitingAccountId: '' };
    }
    const full = this.headroom(input.path, input.metric).find((c) => c.headroom < 1);
    if (full) return { allowed: false, limitingAccountId: full.accountId };
    this.hold(input.slotId, input.path, input.metric, 1, now + input.ttlMs, undefined);
    return { allowed: true, limitingAccountId: '' };
  }

  /** Sets the size of one edge's block (see QuotaEngine.leaseSlots); the previous size is given back first. */
  leaseBlock(input: { path: readonly PathLevel[]; metric: string; slotId: string; held: number; want: number; ttlMs: number }, now: number): { granted: number; limitingAccountId: string; limited: boolean } {
    this.reap(now);
    this.release(input.slotId);
    const levels = this.headroom(input.path, input.metric);
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
    if (granted > 0) this.hold(input.slotId, input.path, input.metric, granted, now + input.ttlMs, blocksKey);
    return { granted, limitingAccountId, limited: levels.length > 0 };
  }

  /** Extends live slots and blocks; answers the ids that had already expired. */
  renew(slotIds: readonly string[], ttlMs: number, now: number): string[] {
    this.reap(now);
    const expired: string[] = [];
    for (const id of slotIds) {
      const slot = this.live(id, now);
      if (slot) slot.expiresAtMs = now + ttlMs;
      else expired.push(id);
    }
    return expired;
  }

  /** Gives back a slot, or a whole block. */
  release(slotId: string): void {
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

  count(accountId: string, metric: string, now: number): number {
    this.reap(now);
    return this.slotCounts.get(`${accountId}|${metric}`) ?? 0;
  }

  /** Headroom of every level that enforces a concurrency limit on this metric, leaf first. */
  private headroom(path: readonly PathLevel[], metric: string): { accountId: string; headroom: number }[] {
    const out: { accountId: string; headroom: number }[] = [];
    for (let i = path.length - 1; i >= 0; i--) {
      const level = path[i]!;
      const limit = level.limits.find((l) => l.metric === metric && l.kind === 'concurrency' && l.value >= 0 && !l.shadow);
      if (limit) out.push({ accountId: level.accountId, headroom: limit.value - (this.slotCounts.get(`${level.accountId}|${metric}`) ?? 0) });
    }
    return out;
  }

  private hold(slotId: string, path: readonly PathLevel[], metric: string, count: number, expiresAtMs: number, blocksKey: string | undefined): void {
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
  private live(slotId: string, now: number): Slot | undefined {
    const slot = this.slots.get(slotId);
    if (slot && slot.expiresAtMs <= now) {
      this.release(slotId);
      return undefined;
    }
    return slot;
  }

  /** Expired slots and blocks go back; at most once a second (a scan of every slot). */
  private reap(now: number): void {
    if (now < this.nextReapMs) return;
    this.nextReapMs = now + 1_000;
    for (const [id, slot] of this.slots) if (slot.expiresAtMs <= now) this.release(id);
  }
}
