import { randomBytes } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import { boundedCache } from '#libs/cache/bounded-cache.ts';
import type { PathLevel } from './path-level.ts';
import type { CounterCheck, RateVolumeCounters } from './rate-volume-counters.ts';

export interface LeaseResult {
  granted: number;
  /** Names the grant, for giving back what is left of it; '' when nothing is remembered (nothing granted, or no limit to credit). */
  leaseId: string;
  limitingAccountId: string;
  retryAfterMs: number;
  volumeExhausted: boolean;
  /** Ask for more when the local budget falls below this. */
  refillBelow: number;
  /** Units of the request's returns credited back to the counters. */
  returned: number;
}

/** Units an edge gives back: what is left unspent of one lease. */
export interface LeaseReturn {
  leaseId: string;
  units: number;
}

/** A grant, remembered until it is given back (or pushed out by newer ones). */
interface Granted {
  edgeId: string;
  leaf: string;
  metric: string;
  units: number;
  /** The counters the grant was committed to (volume ones name their window). */
  counters: string[];
  returned: boolean;
}

/**
 * Local budgets for edges, reserved at every level now (so N edges can never together go over a
 * limit). What an edge drops unspent — its budgets are dropped when limits change, or it stops —
 * it gives back by lease id: credited to the counters the grant was committed to (those still in
 * force; a volume window that is over takes nothing back), at most what the lease granted, once.
 */
export class EdgeLeases {
  /** Edges leasing per (leaf account, metric), with when each last asked. */
  private readonly edges = new Map<string, Map<string, number>>();
  /** Grants that may still be given back, by lease id; the oldest are forgotten first (their units stay spent). */
  private readonly granted: LRUCache<string, Granted>;
  /** Tells this process's lease ids from another's (a restarted or other replica). */
  private readonly tag = randomBytes(4).toString('hex');
  private seq = 0;

  private readonly counters: RateVolumeCounters;

  constructor(counters: RateVolumeCounters, options: { rememberLeases?: number } = {}) {
    this.counters = counters;
    this.granted = boundedCache(options.rememberLeases ?? 100_000);
  }

  /**
   * Credits `returns` first, then grants up to `want` (0: a return only). The size adapts: at most
   * a quarter of the tightest headroom divided among the edges leasing it.
   */
  lease(input: { path: readonly PathLevel[]; metric: string; want: number; edgeId: string; returns?: readonly LeaseReturn[] | undefined }, now: number): LeaseResult {
    const leaf = input.path[input.path.length - 1]?.accountId ?? '';
    const returned = input.returns?.length ? this.giveBack(input, leaf, now) : 0;
    if (input.want === 0) return { granted: 0, leaseId: '', limitingAccountId: '', retryAfterMs: 0, volumeExhausted: false, refillBelow: 0, returned };
    const edgeKey = `${leaf}|${input.metric}`;
    const holders = this.edges.get(edgeKey) ?? new Map<string, number>();
    holders.set(input.edgeId, now);
    for (const [edge, at] of holders) if (now - at > 30_000) holders.delete(edge);
    this.edges.set(edgeKey, holders);
    const all = this.counters.checksFor(input.path, input.metric, now);
    const checks = all.filter((c) => !c.limit.shadow);
    // No limit anywhere on the path: grant it all, and ask for more at half (never an empty budget).
    // Nothing is committed here (shadow limits alone reserve nothing), so there is nothing to give back.
    if (checks.length === 0) return { granted: input.want, leaseId: '', limitingAccountId: '', retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.ceil(input.want / 2), returned };
    const tightest = checks.reduce((a, b) => (b.headroom < a.headroom ? b : a));
    const fairShare = Math.max(1, Math.floor(Math.max(0, tightest.headroom) / (4 * holders.size)));
    const granted = Math.max(0, Math.min(input.want, fairShare, tightest.headroom));
    if (granted === 0) {
      return { granted: 0, leaseId: '', limitingAccountId: tightest.accountId, retryAfterMs: tightest.waitMs, volumeExhausted: tightest.limit.kind === 'volume', refillBelow: 0, returned };
    }
    for (const c of all) c.commit(granted);
    const leaseId = this.remember(all, input, leaf, granted, now);
    return { granted, leaseId, limitingAccountId: tightest.accountId, retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.max(1, Math.floor(granted / 4)), returned };
  }

  private remember(checks: readonly CounterCheck[], input: { metric: string; edgeId: string }, leaf: string, units: number, now: number): string {
    const leaseId = `${now.toString(36)}.${(this.seq++).toString(36)}.${this.tag}`;
    this.granted.set(leaseId, { edgeId: input.edgeId, leaf, metric: input.metric, units, counters: checks.map((c) => c.counter), returned: false });
    return leaseId;
  }

  /** Credits each return once, to the counters its lease committed to that are still counted now. */
  private giveBack(input: { path: readonly PathLevel[]; metric: string; edgeId: string; returns?: readonly LeaseReturn[] | undefined }, leaf: string, now: number): number {
    let credited = 0;
    let checks: CounterCheck[] | undefined;
    for (const r of input.returns ?? []) {
      const lease = this.granted.get(r.leaseId);
      // Unknown (forgotten, another replica's) or not this edge's grant for this account and metric: nothing to credit.
      if (!lease || lease.returned || lease.edgeId !== input.edgeId || lease.leaf !== leaf || lease.metric !== input.metric) continue;
      lease.returned = true;
      const units = Math.min(r.units, lease.units);
      checks ??= this.counters.checksFor(input.path, input.metric, now);
      let back = 0;
      for (const c of checks) if (lease.counters.includes(c.counter)) back = Math.max(back, c.uncommit(units));
      credited += back;
    }
    return credited;
  }
}
