import { invalidArgument } from '#libs/errors/index.ts';
import { metricSpec } from './metrics.ts';
import type { Clock, PathLevel } from './path-level.ts';
import { RateVolumeCounters, type VolumeSink } from './rate-volume-counters.ts';
import { decideConsumes, type ConsumeResult } from './consume-decision.ts';
import { IdempotencyCache } from './idempotency-cache.ts';
import { EdgeLeases, type LeaseResult, type LeaseReturn } from './edge-leases.ts';
import { ConcurrencySlots } from './concurrency-slots.ts';

export type { Clock, PathLevel, ConsumeResult, LeaseResult, LeaseReturn, VolumeSink };

/**
 * The quota engine: rate buckets, calendar volume counters and concurrency slots for every level of
 * an account path, checked and committed together — a refused consume changes no counter at any
 * level. It validates input, reads the clock once per call, and hands the work to one module per
 * concept: rate-volume-counters, consume-decision, edge-leases, concurrency-slots, idempotency-cache.
 */
export class QuotaEngine {
  private readonly clock: Clock;
  private readonly counters: RateVolumeCounters;
  private readonly leases: EdgeLeases;
  private readonly slots = new ConcurrencySlots();
  private readonly idempotent = new IdempotencyCache();

  constructor(options: { clock: Clock; volumeSink?: VolumeSink }) {
    this.clock = options.clock;
    this.counters = new RateVolumeCounters(options.volumeSink);
    this.leases = new EdgeLeases(this.counters);
  }

  /** Restores a persisted volume counter (at start). */
  restoreVolume(accountId: string, metric: string, windowStartMs: number, used: number): void {
    this.counters.restoreVolume(accountId, metric, windowStartMs, used);
  }

  consume(input: { path: readonly PathLevel[]; metric: string; amount: number; idempotencyKey?: string | undefined }): ConsumeResult {
    metricSpec(input.metric);
    if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw invalidArgument('amount', 'must be a whole number ≥ 1');
    const now = this.clock.nowMs();
    if (input.idempotencyKey) {
      const seen = this.idempotent.get(input.idempotencyKey, now);
      if (seen) return seen;
    }
    const [result] = decideConsumes([{ amount: input.amount, checks: this.counters.checksFor(input.path, input.metric, now) }]);
    if (input.idempotencyKey) this.idempotent.set(input.idempotencyKey, result!, now);
    return result!;
  }

  /**
   * Several consumes decided together: when any is refused, none is counted (Envoy's descriptors of
   * one request). See decideConsumes for counters shared between descriptors.
   */
  consumeAll(inputs: readonly { path: readonly PathLevel[]; metric: string; amount: number }[]): ConsumeResult[] {
    const now = this.clock.nowMs();
    const planned = inputs.map((input, i) => {
      metricSpec(input.metric, `descriptors[${i}].metric`);
      if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw invalidArgument(`descriptors[${i}].hits_addend`, 'must be a whole number ≥ 1');
      return { amount: input.amount, checks: this.counters.checksFor(input.path, input.metric, now) };
    });
    return decideConsumes(planned);
  }

  /**
   * A local budget for an edge, reserved at every level now (so N edges can never together go over
   * a limit). The size adapts: at most a quarter of the tightest headroom divided among the edges
   * leasing it. `returns` (units of earlier leases the edge dropped unspent) are credited first, each
   * lease once and at most what it granted; `want` may then be 0 (a return only).
   */
  lease(input: { path: readonly PathLevel[]; metric: string; want: number; edgeId: string; returns?: readonly LeaseReturn[] | undefined }): LeaseResult {
    metricSpec(input.metric);
    const returns = input.returns ?? [];
    if (returns.length > 100) throw invalidArgument('returns', 'at most 100 per request');
    returns.forEach((r, i) => {
      if (!r.leaseId || r.leaseId.length > 128) throw invalidArgument(`returns[${i}].lease_id`, 'is required (at most 128 characters)');
      if (!Number.isSafeInteger(r.units) || r.units < 1) throw invalidArgument(`returns[${i}].units`, 'must be a whole number ≥ 1');
    });
    const least = returns.length ? 0 : 1;
    if (!Number.isSafeInteger(input.want) || input.want < least) throw invalidArgument('want', returns.length ? 'must be a whole number ≥ 0' : 'must be a whole number ≥ 1');
    return this.leases.lease(input, this.clock.nowMs());
  }

  /**
   * A concurrency slot at every level of the path, or none at all. Acquiring a slot id that is
   * already held renews it (a retried call counts once).
   */
  acquireSlot(input: { path: readonly PathLevel[]; metric: string; slotId: string; ttlMs: number }): { allowed: boolean; limitingAccountId: string } {
    this.concurrencyMetric(input.metric);
    return this.slots.acquire(input, this.clock.nowMs());
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
    return this.slots.leaseBlock(input, this.clock.nowMs());
  }

  /** Extends live slots and blocks; answers the ids that had already expired. */
  renewSlots(slotIds: readonly string[], ttlMs: number): string[] {
    return this.slots.renew(slotIds, ttlMs, this.clock.nowMs());
  }

  /** Gives back a slot, or a whole block. */
  releaseSlot(slotId: string): void {
    this.slots.release(slotId);
  }

  slotCount(accountId: string, metric: string): number {
    return this.slots.count(accountId, metric, this.clock.nowMs());
  }

  volumeUsed(accountId: string, metric: string): number {
    return this.counters.volumeUsed(accountId, metric);
  }

  private concurrencyMetric(metric: string): void {
    if (!metricSpec(metric).kinds.includes('concurrency')) throw invalidArgument('metric', `${metric} is not a concurrency metric`);
  }
}
