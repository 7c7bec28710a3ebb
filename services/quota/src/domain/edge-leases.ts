import type { PathLevel } from './path-level.ts';
import type { RateVolumeCounters } from './rate-volume-counters.ts';

export interface LeaseResult {
  granted: number;
  limitingAccountId: string;
  retryAfterMs: number;
  volumeExhausted: boolean;
  /** Ask for more when the local budget falls below this. */
  refillBelow: number;
}

/**
 * Local budgets for edges, reserved at every level now (so N edges can never together go over a
 * limit; what an edge leaves unspent is lost to the window, which small leases keep small).
 */
export class EdgeLeases {
  /** Edges leasing per (leaf account, metric), with when each last asked. */
  private readonly edges = new Map<string, Map<string, number>>();

  private readonly counters: RateVolumeCounters;

  constructor(counters: RateVolumeCounters) {
    this.counters = counters;
  }

  /** The size adapts: at most a quarter of the tightest headroom divided among the edges leasing it. */
  lease(input: { path: readonly PathLevel[]; metric: string; want: number; edgeId: string }, now: number): LeaseResult {
    const leaf = input.path[input.path.length - 1]?.accountId ?? '';
    const edgeKey = `${leaf}|${input.metric}`;
    const holders = this.edges.get(edgeKey) ?? new Map<string, number>();
    holders.set(input.edgeId, now);
    for (const [edge, at] of holders) if (now - at > 30_000) holders.delete(edge);
    this.edges.set(edgeKey, holders);
    const checks = this.counters.checksFor(input.path, input.metric, now).filter((c) => !c.limit.shadow);
    // No limit anywhere on the path: grant it all, and ask for more at half (never an empty budget).
    if (checks.length === 0) return { granted: input.want, limitingAccountId: '', retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.ceil(input.want / 2) };
    const tightest = checks.reduce((a, b) => (b.headroom < a.headroom ? b : a));
    const fairShare = Math.max(1, Math.floor(Math.max(0, tightest.headroom) / (4 * holders.size)));
    const granted = Math.max(0, Math.min(input.want, fairShare, tightest.headroom));
    if (granted === 0) {
      return { granted: 0, limitingAccountId: tightest.accountId, retryAfterMs: tightest.waitMs, volumeExhausted: tightest.limit.kind === 'volume', refillBelow: 0 };
    }
    for (const c of checks) c.commit(granted);
    for (const c of this.counters.checksFor(input.path, input.metric, now).filter((x) => x.limit.shadow)) c.commit(granted);
    return { granted, limitingAccountId: tightest.accountId, retryAfterMs: 0, volumeExhausted: false, refillBelow: Math.max(1, Math.floor(granted / 4)) };
  }
}
