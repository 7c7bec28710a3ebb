/** One authz replica's answer of `GET /api/v1/decisions/stats`: cumulative since it started. */
export interface DecisionStatsSample {
  at: string;
  replica_id: string;
  started_at: string;
  accounts: number;
  allowed: number;
  denied: number;
  denied_by_reason: { reason: string; count: number }[];
  cache_hits: number;
  cache_misses: number;
}

/** What the overview draws: every authz replica heard from recently, added up. */
export interface DecisionRates {
  /** Replicas whose figures are in (heard from within the stale window). */
  replicas: number;
  accounts: number;
  /** Per second over each replica's last two samples, summed; null until a replica has given two. */
  allowed_per_second: number | null;
  denied_per_second: number | null;
  /** Token-cache hits among lookups over the same windows; null when there was no lookup. */
  cache_hit_ratio: number | null;
  /** Cumulative, each replica's latest figures summed (since each started). */
  allowed: number;
  denied: number;
  cache_hits: number;
  cache_misses: number;
  denied_by_reason: { reason: string; count: number }[];
}

interface ReplicaState {
  startedAt: string;
  last: DecisionStatsSample;
  lastAtMs: number;
  seenAtMs: number;
  window?: { allowedPerSecond: number; deniedPerSecond: number; hits: number; misses: number };
}

/**
 * Rates from the samples of several authz replicas. Each replica counts only the calls it answered,
 * and the console's calls are spread over the replicas, so two successive samples may come from
 * different ones: a rate is taken only between two samples of the same replica (same id and start
 * time; a restarted replica starts a new baseline), and the total is the sum of the latest rate of
 * every replica heard from within `staleAfterMs` (a replica that went away drops out after it).
 * One tracker per live stream; `nowMs` is the console's clock, the rates use each replica's own.
 */
export class DecisionRateTracker {
  private readonly replicas = new Map<string, ReplicaState>();

  private readonly staleAfterMs: number;

  constructor(staleAfterMs = 30_000) {
    this.staleAfterMs = staleAfterMs;
  }

  add(sample: DecisionStatsSample, nowMs: number): DecisionRates {
    const atMs = Date.parse(sample.at);
    const previous = this.replicas.get(sample.replica_id);
    const state: ReplicaState = { startedAt: sample.started_at, last: sample, lastAtMs: atMs, seenAtMs: nowMs };
    if (previous && previous.startedAt === sample.started_at) {
      const seconds = (atMs - previous.lastAtMs) / 1_000;
      const p = previous.last;
      const grew = sample.allowed >= p.allowed && sample.denied >= p.denied && sample.cache_hits >= p.cache_hits && sample.cache_misses >= p.cache_misses;
      if (seconds > 0 && grew) {
        state.window = {
          allowedPerSecond: (sample.allowed - p.allowed) / seconds,
          deniedPerSecond: (sample.denied - p.denied) / seconds,
          hits: sample.cache_hits - p.cache_hits,
          misses: sample.cache_misses - p.cache_misses,
        };
      } else if (seconds <= 0) {
        // The same instant again (or an older answer): keep the baseline and the rate already known.
        state.lastAtMs = previous.lastAtMs;
        state.last = previous.last;
        if (previous.window) state.window = previous.window;
      }
    }
    this.replicas.set(sample.replica_id, state);
    for (const [id, r] of this.replicas) if (nowMs - r.seenAtMs > this.staleAfterMs) this.replicas.delete(id);
    return this.total(sample.accounts);
  }

  private total(accounts: number): DecisionRates {
    let allowedPerSecond: number | null = null;
    let deniedPerSecond: number | null = null;
    let hits = 0;
    let lookups = 0;
    const out = { allowed: 0, denied: 0, cache_hits: 0, cache_misses: 0 };
    const reasons = new Map<string, number>();
    for (const r of this.replicas.values()) {
      out.allowed += r.last.allowed;
      out.denied += r.last.denied;
      out.cache_hits += r.last.cache_hits;
      out.cache_misses += r.last.cache_misses;
      for (const { reason, count } of r.last.denied_by_reason) reasons.set(reason, (reasons.get(reason) ?? 0) + count);
      if (!r.window) continue;
      allowedPerSecond = (allowedPerSecond ?? 0) + r.window.allowedPerSecond;
      deniedPerSecond = (deniedPerSecond ?? 0) + r.window.deniedPerSecond;
      hits += r.window.hits;
      lookups += r.window.hits + r.window.misses;
    }
    return {
      replicas: this.replicas.size,
      accounts,
      allowed_per_second: allowedPerSecond,
      denied_per_second: deniedPerSecond,
      cache_hit_ratio: lookups === 0 ? null : hits / lookups,
      ...out,
      denied_by_reason: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
    };
  }
}
